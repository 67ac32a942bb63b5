// epoll_readiness: the thread-pool backend's readiness host, ops waiting for a pollable fd over
// one epoll instance per shard. Several ops may wait on one fd (a recv and a send on the same
// socket); the fd is registered once with the union of their interests. Registrations are
// EPOLLONESHOT: after an event the fd is re-armed only if ops still wait, so an idle fd costs no
// wakeups and nothing is left to remove.
#pragma once

#include "emulated_op.hpp"

#include <couring/op.hpp>

#include <sys/epoll.h>

#include <cstdint>
#include <vector>

namespace couring::emulation {

class epoll_readiness final : public readiness_host {
 public:
  explicit epoll_readiness(int epoll_fd) noexcept : epoll_fd_(epoll_fd) {}

  int watch(op_base& op, int fd, std::uint32_t events) noexcept override;
  // Always stops at once: the last waiter of an fd takes its registration with it.
  bool unwatch(op_base& op) noexcept override;

  // Handles one epoll event: each waiter the event concerns makes its non-blocking attempt; those
  // that are done leave and finish.
  void dispatch(int fd, std::uint32_t revents) noexcept;

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

template <class Fn>
void epoll_readiness::for_each_waiter(Fn&& fn) {
  for (fd_waiters& w : fds_) {
    for (op_base* op = w.head; op;) {
      op_base* next = state_of(*op).next;
      fn(*op);
      op = next;
    }
  }
}

}  // namespace couring::emulation
