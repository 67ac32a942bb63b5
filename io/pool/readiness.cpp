#include "readiness.hpp"

#include <cerrno>

namespace couring::pool {

std::uint32_t readiness::interest_of(const fd_waiters& w) noexcept {
  std::uint32_t events = 0;
  for (const op_base* op = w.head; op; op = op->link_next) events |= op->backend_events;
  return events;
}

int readiness::arm(int fd, fd_waiters& w, std::uint32_t events) noexcept {
  epoll_event ev{};
  ev.events = events | EPOLLONESHOT;
  ev.data.fd = fd;
  // The fd may have been closed and its number reused since we last saw it (closing removes it
  // from epoll), or registered by us before: try the likely call first, then the other.
  int op = w.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  int r = ::epoll_ctl(epoll_fd_, op, fd, &ev);
  if (r < 0 && errno == (w.registered ? ENOENT : EEXIST)) {
    op = w.registered ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    r = ::epoll_ctl(epoll_fd_, op, fd, &ev);
  }
  if (r < 0) return -errno;
  w.registered = true;
  w.armed = events;
  return 0;
}

int readiness::watch(op_base& op, int fd, std::uint32_t events) noexcept {
  if (fd < 0) return -EBADF;
  if (static_cast<std::size_t>(fd) >= fds_.size()) {
    try {
      fds_.resize(static_cast<std::size_t>(fd) + 1);
    } catch (...) {
      return -ENOMEM;
    }
  }
  fd_waiters& w = fds_[fd];
  std::uint32_t wanted = interest_of(w) | events;
  // With no waiter left, `armed` may describe a registration that is gone: the last waiter was
  // cancelled (nothing disarms it) and the fd closed (which drops it from epoll), its number now
  // naming another file. Only while ops wait on the fd (it cannot be closed under them) is
  // `armed` the truth; otherwise arm again, which the first op on an idle fd does anyway.
  if (w.head == nullptr || (w.armed & wanted) != wanted) {
    if (int r = arm(fd, w, wanted); r < 0) return r;
  }
  op.backend_events = events;
  op.backend_index = static_cast<std::uint32_t>(fd);
  op.link_next = nullptr;
  op.link_prev = w.tail;
  if (w.tail) w.tail->link_next = &op; else w.head = &op;
  w.tail = &op;
  ++waiting_;
  return 0;
}

void readiness::unlink(fd_waiters& w, op_base& op) noexcept {
  if (op.link_prev) op.link_prev->link_next = op.link_next; else w.head = op.link_next;
  if (op.link_next) op.link_next->link_prev = op.link_prev; else w.tail = op.link_prev;
  op.link_prev = op.link_next = nullptr;
  --waiting_;
}

void readiness::unwatch(op_base& op) noexcept {
  fd_waiters& w = fds_[op.backend_index];
  unlink(w, op);
  if (w.head || !w.registered) return;
  // Nobody waits any more, yet the registration may still be armed. Drop it: if the fd is then
  // closed and its number reused, a stale `armed` would make watch() skip arming the new file,
  // whose waiters would never wake.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, static_cast<int>(op.backend_index), nullptr);
  w.registered = false;
  w.armed = 0;
}

}  // namespace couring::pool
