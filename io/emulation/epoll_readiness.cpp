#include "epoll_readiness.hpp"

#include "engine.hpp"

#include <cerrno>

namespace couring::emulation {

std::uint32_t epoll_readiness::interest_of(const fd_waiters& w) noexcept {
  std::uint32_t events = 0;
  for (const op_base* op = w.head; op; op = state_of(*op).next) events |= state_of(*op).events;
  return events;
}

int epoll_readiness::arm(int fd, fd_waiters& w, std::uint32_t events) noexcept {
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

int epoll_readiness::watch(op_base& op, int fd, std::uint32_t events) noexcept {
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
  emulated_op& e = state_of(op);
  e.events = events;
  e.fd = fd;
  e.next = nullptr;
  e.prev = w.tail;
  if (w.tail) state_of(*w.tail).next = &op; else w.head = &op;
  w.tail = &op;
  ++waiting_;
  return 0;
}

void epoll_readiness::unlink(fd_waiters& w, op_base& op) noexcept {
  emulated_op& e = state_of(op);
  if (e.prev) state_of(*e.prev).next = e.next; else w.head = e.next;
  if (e.next) state_of(*e.next).prev = e.prev; else w.tail = e.prev;
  e.prev = e.next = nullptr;
  --waiting_;
}

bool epoll_readiness::unwatch(op_base& op) noexcept {
  const int fd = state_of(op).fd;
  fd_waiters& w = fds_[fd];
  unlink(w, op);
  if (w.head || !w.registered) return true;
  // Nobody waits any more, yet the registration may still be armed. Drop it: if the fd is then
  // closed and its number reused, a stale `armed` would make watch() skip arming the new file,
  // whose waiters would never wake.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  w.registered = false;
  w.armed = 0;
  return true;
}

void epoll_readiness::dispatch(int fd, std::uint32_t revents) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
  fd_waiters& w = fds_[fd];
  w.armed = 0;  // EPOLLONESHOT: this event disarmed the registration
  // Errors and hang-ups concern every waiter: each learns its own result by trying again.
  const std::uint32_t broad = EPOLLERR | EPOLLHUP;
  for (op_base* op = w.head; op;) {
    op_base* next = state_of(*op).next;
    if (revents & (state_of(*op).events | broad)) {
      int r = engine::attempt(*op);
      if (r != -EAGAIN) {
        unlink(w, *op);
        engine::finish(*op, r);
      }
    }
    op = next;
  }
  if (std::uint32_t rest = interest_of(w)) arm(fd, w, rest);
}

}  // namespace couring::emulation
