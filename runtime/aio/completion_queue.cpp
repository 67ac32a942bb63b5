#include "runtime/aio/completion_queue.hpp"

#include "runtime/aio/control_block.hpp"
#include "runtime/aio/wakeup.hpp"

#include <couring/aio.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <mutex>

namespace couring::aio {
namespace {

std::atomic<bool> enabled{false};
std::mutex queue_mutex;
std::deque<aiocb*>* queue = new std::deque<aiocb*>;
int ready_fd = -1;  // readable (counter > 0) exactly while the queue is not empty

}  // namespace

void queue_completion(aiocb* cb) noexcept {
  if (!enabled.load(std::memory_order_acquire)) return;
  std::lock_guard lock(queue_mutex);
  const bool was_empty = queue->empty();
  queue->push_back(cb);
  if (was_empty) {
    const std::uint64_t one = 1;
    (void)!write(ready_fd, &one, sizeof one);
  }
}

void hold_completion_queue_for_fork() noexcept { queue_mutex.lock(); }
void release_completion_queue_after_fork() noexcept { queue_mutex.unlock(); }

void reset_completion_queue_after_fork() noexcept {
  // The child inherits the eventfd and the flag; only the entries were the parent's. The queue
  // was held across fork, so it is whole: emptied, not abandoned (nothing leaks per fork).
  queue->clear();
  new (&queue_mutex) std::mutex;
  if (ready_fd >= 0) {
    std::uint64_t drained;
    (void)!read(ready_fd, &drained, sizeof drained);
  }
}

}  // namespace couring::aio

using namespace couring::aio;

extern "C" int couring_aio_queue_completions(void) {
  std::lock_guard lock(queue_mutex);
  if (enabled.load(std::memory_order_relaxed)) return 0;
  ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ready_fd < 0) return -1;
  enabled.store(true, std::memory_order_release);
  return 0;
}

extern "C" int couring_aio_fd(void) {
  if (!enabled.load(std::memory_order_acquire)) {
    errno = EINVAL;
    return -1;
  }
  return ready_fd;
}

extern "C" ssize_t couring_aio_waitcomplete(struct aiocb** done, const struct timespec* timeout) {
  if (!done || !enabled.load(std::memory_order_acquire) ||
      (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L))) {
    errno = EINVAL;
    return -1;
  }
  timespec deadline{};
  if (timeout) deadline = deadline_after(*timeout);
  for (;;) {
    const std::uint32_t seen = completion_epoch();
    aiocb* cb = nullptr;
    {
      std::lock_guard lock(queue_mutex);
      while (!queue->empty() && !cb) {
        cb = queue->front();
        queue->pop_front();
        // Consumed through aio_return already: the caller took it another way, skip it.
        if (!take_result(cb)) cb = nullptr;
      }
      if (queue->empty()) {
        std::uint64_t drained;
        (void)!read(ready_fd, &drained, sizeof drained);
      }
    }
    if (cb) {
      *done = cb;
      const int err = error_of(cb);
      if (err) {
        errno = err;
        return -1;
      }
      return cb->__return_value;
    }
    const int why = wait_for_completion(seen, timeout ? &deadline : nullptr);
    if (why == ETIMEDOUT || why == EINTR) {
      errno = why == ETIMEDOUT ? EAGAIN : EINTR;
      *done = nullptr;
      return -1;
    }
  }
}
