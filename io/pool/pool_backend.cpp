#include "pool_backend.hpp"

#include "exec.hpp"

#include <couring/assert.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <new>
#include <system_error>
#include <variant>

namespace couring::pool {
namespace {

// Where an op currently is, kept in op_base::backend_route (worker routes belong to worker_submitter).
enum : std::uint8_t { at_none = 0, at_readiness, at_timers };

unique_fd make_fd(int fd, const char* what) {
  if (fd < 0) throw std::system_error(errno, std::system_category(), what);
  return unique_fd(fd);
}

std::int64_t wake_time_ns(const op_base& op) noexcept {
  const kernel_timespec& when = std::get<timeout_req>(op.req).when;
  if (when.tv_sec >= INT64_MAX / 1'000'000'000) return INT64_MAX;
  return when.tv_sec * 1'000'000'000 + when.tv_nsec;
}

}  // namespace

pool_backend::pool_backend(scheduler& owner, worker_pool& workers)
    : owner_(owner),
      epoll_fd_(make_fd(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")),
      wake_fd_(make_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")),
      readiness_(epoll_fd_.get()),
      workers_(owner, workers) {
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: stays readable until wait() drains the counter
  ev.data.fd = wake_fd_.get();
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) < 0)
    throw std::system_error(errno, std::system_category(), "epoll_ctl(eventfd)");
}

pool_backend::~pool_backend() {
  COURING_ASSERT(workers_.parked() == 0 && readiness_.waiting() == 0 && sleeping_ == nullptr,
                 "the thread-pool backend was destroyed with ops in flight");
}

void pool_backend::submit(op_base& op) noexcept {
  stats_.submitted[op.req.index()].add();
  op.backend_route = at_none;
  // Nothing is installed straight into a file_table here: the new descriptor comes back as the
  // result, for the table to adopt.
  op.install_slot = -1;
  if (int r = use_real_descriptor(op); r < 0) {
    complete(op, r);
    return;
  }
  plan p = plan_for(op.req);
  switch (p.how) {
    case route::immediate:
      complete(op, p.res);
      return;
    case route::readiness:
      if (int r = readiness_.watch(op, p.fd, p.events); r < 0) {
        // epoll refuses some fds that read/write can still serve (e.g. /dev/null): block instead.
        if (r == -EPERM) {
          to_workers(op);
          arm_deadline(op);
        } else {
          complete(op, r);
        }
        return;
      }
      op.backend_route = at_readiness;
      arm_deadline(op);
      return;
    case route::worker:
      to_workers(op);
      arm_deadline(op);
      return;
    case route::timer:
      start_sleep(op);
      return;
  }
}

void pool_backend::to_workers(op_base& op) noexcept {
  if (workers_.submit(op)) stats_.pool_parked.add();
}

void pool_backend::arm_deadline(op_base& op) noexcept {
  if (op.deadline_ns == 0) return;
  try {
    owner_.arm_timer(op.deadline_timer, op.deadline_ns);
  } catch (const std::bad_alloc&) {
    // Without a timer the deadline cannot be kept; expiring now is the honest outcome.
    op_deadline::fire(op.deadline_timer);
  }
}

// A sleep is the op's own timer, armed at the earlier of its wake-up time and its deadline.
void pool_backend::start_sleep(op_base& op) noexcept {
  std::int64_t wake = wake_time_ns(op);
  std::int64_t fire = op.deadline_ns != 0 && op.deadline_ns < wake ? op.deadline_ns : wake;
  op.deadline_timer.run = &pool_backend::sleep_fired;
  try {
    owner_.arm_timer(op.deadline_timer, fire);
  } catch (const std::bad_alloc&) {
    op.deadline_timer.run = &op_deadline::fire;
    complete(op, -ENOMEM);
    return;
  }
  op.backend_route = at_timers;
  link_sleeper(op);
}

void pool_backend::link_sleeper(op_base& op) noexcept {
  op.link_prev = nullptr;
  op.link_next = sleeping_;
  if (sleeping_) sleeping_->link_prev = &op;
  sleeping_ = &op;
}

void pool_backend::unlink_sleeper(op_base& op) noexcept {
  if (op.link_prev) op.link_prev->link_next = op.link_next; else sleeping_ = op.link_next;
  if (op.link_next) op.link_next->link_prev = op.link_prev;
  op.link_prev = op.link_next = nullptr;
}

void pool_backend::sleep_fired(work_item& w) noexcept {
  op_base& op = *static_cast<op_deadline&>(w).op;
  static_cast<pool_backend&>(op.owner->io()).unlink_sleeper(op);
  op.backend_route = at_none;
  op.deadline_timer.run = &op_deadline::fire;
  bool woke = wake_time_ns(op) <= op.deadline_timer.deadline_ns;
  if (!woke) op.cancel = cancel_reason::timed_out;  // the deadline came before the wake-up time
  complete(op, woke ? -ETIME : -ECANCELED);
}

void pool_backend::cancel_op(op_base& op) noexcept {
  if (workers_.owns(op)) {
    // POSIX-AIO: a waiting op is dequeued (AIO_CANCELED); a running one delivers its real
    // result (AIO_NOTCANCELED); a finished one is already on its way (AIO_ALLDONE).
    if (!workers_.cancel(op)) return;
  } else if (op.backend_route == at_readiness) {
    readiness_.unwatch(op);
  } else if (op.backend_route == at_timers) {
    owner_.disarm_timer(op.deadline_timer);
    op.deadline_timer.run = &op_deadline::fire;
    unlink_sleeper(op);
  } else {
    return;
  }
  op.backend_route = at_none;
  complete(op, -ECANCELED);
}

void pool_backend::cancel(op_base& op) noexcept {
  if (op.state != op_state::submitted) return;  // completed, possibly not yet resumed
  cancel_op(op);
}

void pool_backend::cancel_all() noexcept {
  workers_.cancel_all([](op_base& op) {
    op.backend_route = at_none;
    complete(op, -ECANCELED);
  });
  readiness_.for_each_waiter([this](op_base& op) { cancel_op(op); });
  while (sleeping_) cancel_op(*sleeping_);
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
  stats_.enters.add();
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
    readiness_.dispatch(
        fd, events[i].events,
        [](op_base& op, std::uint32_t revents) { return retry_when_ready(op.req, revents); },
        [](op_base& op, int res) {
          op.backend_route = at_none;
          complete(op, res);
        });
  }
}

void pool_backend::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
}

}  // namespace couring::pool
