// readiness: ops waiting for a pollable fd, over one epoll instance per shard. Several ops may wait
// on one fd (a recv and a send on the same socket); the fd is registered once with the union of
// their interests. Registrations are EPOLLONESHOT: after an event the fd is re-armed only if ops
// still wait, so an idle fd costs no wakeups and nothing is left to remove.
#pragma once

#include <couring/op.hpp>

#include <sys/epoll.h>

#include <cstdint>
#include <vector>

namespace couring::pool {

class readiness {
 public:
  explicit readiness(int epoll_fd) noexcept : epoll_fd_(epoll_fd) {}

  // Starts waiting; returns 0, or -errno when the fd cannot be polled (the op is not kept).
  int watch(op_base& op, int fd, std::uint32_t events) noexcept;

  // Stops waiting (cancellation). The last waiter of an fd takes its registration with it.
  void unwatch(op_base& op) noexcept;

  // Handles one epoll event: `attempt(op, revents)` is called for each waiter the event concerns
  // and returns the op's result, or -EAGAIN to keep waiting. Finished ops are unlinked and passed
  // to `done(op, res)`.
  template <class Attempt, class Done>
  void dispatch(int fd, std::uint32_t revents, Attempt&& attempt, Done&& done);

  std::size_t waiting() const noexcept { return waiting_; }

  // Every op still waiting, for shutdown: `fn(op)` may unwatch it.
  template <class Fn>
  void for_each_waiter(Fn&& fn);

 private:
  struct fd_waiters {
    op_base* head = nullptr;
    op_base* tail = nullptr;
    std::uint32_t armed = 0;   // the events the kernel is watching for now (0: disarmed)
    bool registered = false;   // the fd is known to this epoll (armed or not)
  };

  int arm(int fd, fd_waiters& w, std::uint32_t events) noexcept;
  static std::uint32_t interest_of(const fd_waiters& w) noexcept;
  void unlink(fd_waiters& w, op_base& op) noexcept;

  int epoll_fd_;
  std::vector<fd_waiters> fds_;
  std::size_t waiting_ = 0;
};

template <class Attempt, class Done>
void readiness::dispatch(int fd, std::uint32_t revents, Attempt&& attempt, Done&& done) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
  fd_waiters& w = fds_[fd];
  w.armed = 0;  // EPOLLONESHOT: this event disarmed the registration
  // Errors and hang-ups concern every waiter: each learns its own result by trying again.
  const std::uint32_t broad = EPOLLERR | EPOLLHUP;
  for (op_base* op = w.head; op;) {
    op_base* next = op->link_next;
    if (revents & (op->backend_events | broad)) {
      int r = attempt(*op, revents);
      if (r != -EAGAIN) {
        unlink(w, *op);
        done(*op, r);
      }
    }
    op = next;
  }
  if (std::uint32_t rest = interest_of(w)) arm(fd, w, rest);
}

template <class Fn>
void readiness::for_each_waiter(Fn&& fn) {
  for (fd_waiters& w : fds_) {
    for (op_base* op = w.head; op;) {
      op_base* next = op->link_next;
      fn(*op);
      op = next;
    }
  }
}

}  // namespace couring::pool
