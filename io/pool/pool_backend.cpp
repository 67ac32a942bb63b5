#include "pool_backend.hpp"

#include <couring/assert.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace couring::pool {
namespace {

unique_fd make_fd(int fd, const char* what) {
  if (fd < 0) throw std::system_error(errno, std::system_category(), what);
  return unique_fd(fd);
}

}  // namespace

pool_backend::pool_backend(scheduler& owner, emulation::worker_pool& workers)
    : backend(owner),
      epoll_fd_(make_fd(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")),
      wake_fd_(make_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")),
      readiness_(epoll_fd_.get()),
      engine_(owner, workers, readiness_, counters_) {
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: stays readable until wait() drains the counter
  ev.data.fd = wake_fd_.get();
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) < 0)
    throw std::system_error(errno, std::system_category(), "epoll_ctl(eventfd)");
}

pool_backend::~pool_backend() {
  COURING_ASSERT(readiness_.waiting() == 0, "the thread-pool backend was destroyed with ops in flight");
}

void pool_backend::cancel(op_base& op) noexcept {
  if (op.state != op_state::submitted) return;  // completed, possibly not yet resumed
  engine_.cancel(op);
}

void pool_backend::cancel_all() noexcept {
  engine_.cancel_all();
  readiness_.for_each_waiter([this](op_base& op) { engine_.cancel(op); });
}

void pool_backend::wait(bool block, std::int64_t deadline_ns) noexcept {
  timespec timeout{0, 0};
  const timespec* timeout_ptr = &timeout;
  if (block) {
    if (deadline_ns < 0) {
      timeout_ptr = nullptr;  // nothing scheduled: sleep until an fd or a wakeup
    } else {
      std::int64_t delta = deadline_ns - monotonic_now_ns();
      if (delta > 0) timeout = {static_cast<time_t>(delta / 1'000'000'000), static_cast<long>(delta % 1'000'000'000)};
    }
  }
  constexpr int max_events = 256;
  epoll_event events[max_events];
  counters_.enters.add();
  // epoll_pwait2 takes nanoseconds (timers stay precise); epoll_wait's milliseconds are the
  // fallback on kernels before 5.11, rounded up so a timer never fires early.
  int n = ::epoll_pwait2(epoll_fd_.get(), events, max_events, timeout_ptr, nullptr);
  if (n < 0 && errno == ENOSYS) {
    int ms = timeout_ptr ? static_cast<int>(timeout.tv_sec * 1000 + (timeout.tv_nsec + 999'999) / 1'000'000) : -1;
    n = ::epoll_wait(epoll_fd_.get(), events, max_events, ms);
  }
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == wake_fd_.get()) {
      std::uint64_t drained;
      [[maybe_unused]] ssize_t r = ::read(fd, &drained, sizeof drained);
      continue;
    }
    readiness_.dispatch(fd, events[i].events);
  }
}

void pool_backend::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
}

}  // namespace couring::pool
