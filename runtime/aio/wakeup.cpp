#include "runtime/aio/wakeup.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>

namespace couring::aio {
namespace {

std::atomic<std::uint32_t> epoch{0};
std::atomic<std::uint32_t> sleepers{0};

}  // namespace

std::uint32_t completion_epoch() noexcept { return epoch.load(std::memory_order_seq_cst); }

void announce_completion() noexcept {
  epoch.fetch_add(1, std::memory_order_seq_cst);
  // seq_cst on both sides: a sleeper either is counted here or sees the new epoch in FUTEX_WAIT.
  if (sleepers.load(std::memory_order_seq_cst) != 0)
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&epoch), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

timespec deadline_after(const timespec& relative) noexcept {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  timespec d{now.tv_sec + relative.tv_sec, now.tv_nsec + relative.tv_nsec};
  if (d.tv_nsec >= 1000000000L) {
    d.tv_sec += 1;
    d.tv_nsec -= 1000000000L;
  }
  return d;
}

int wait_for_completion(std::uint32_t seen, const timespec* deadline) noexcept {
  timespec left{};
  if (deadline) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    left.tv_sec = deadline->tv_sec - now.tv_sec;
    left.tv_nsec = deadline->tv_nsec - now.tv_nsec;
    if (left.tv_nsec < 0) {
      left.tv_sec -= 1;
      left.tv_nsec += 1000000000L;
    }
    if (left.tv_sec < 0) return ETIMEDOUT;
  }
  sleepers.fetch_add(1, std::memory_order_seq_cst);
  const int saved = errno;
  long r = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&epoch), FUTEX_WAIT_PRIVATE, seen,
                   deadline ? &left : nullptr, nullptr, 0);
  const int why = r == 0 ? 0 : errno;
  errno = saved;
  sleepers.fetch_sub(1, std::memory_order_seq_cst);
  if (why == ETIMEDOUT || why == EINTR) return why;
  return 0;  // woken, or EAGAIN: the epoch had already moved
}

}  // namespace couring::aio
