// What the POSIX-AIO emulation keeps about an op while it holds it: its own struct, in the op's
// holder room (op_base::held). The queues and lists the op visits (worker queue, parked list,
// readiness waiters, sleepers) link through it, so emulating an op allocates nothing.
#pragma once

#include <couring/op.hpp>
#include <couring/timer.hpp>

#include <atomic>
#include <cstdint>

namespace couring::emulation {

class engine;

// A timer of the op's own: its deadline, its wake-up time (a sleep), or a cancel's retry.
struct op_timer : timer_node {
  op_timer() noexcept : timer_node(nullptr) {}
  op_base* op = nullptr;
};

struct emulated_op {
  enum class place : std::uint8_t { none, readiness, workers, parked, timers };

  op_base* prev = nullptr;  // the list `where` says (each list is private to its owner)
  op_base* next = nullptr;
  op_timer timer;
  engine* home = nullptr;
  int fd = -1;                // readiness: the descriptor watched
  std::uint32_t events = 0;   // readiness: what is waited for (EPOLLIN, EPOLLOUT... = POLLIN, POLLOUT...)
  std::uint32_t worker = 0;   // workers: the thread running it, signalled when a cancel interrupts it
  // workers: queued/running/done (worker_pool.cpp), shared with the worker threads.
  std::atomic<std::uint8_t> worker_state{0};
  place where = place::none;
};

inline emulated_op& state_of(op_base& op) noexcept { return op.held.get<emulated_op>(); }
inline const emulated_op& state_of(const op_base& op) noexcept { return op.held.get<emulated_op>(); }

// How a backend lets the engine wait for readiness: epoll on the thread pool (epoll_readiness),
// POLL_ADD on an io_uring ring for the kinds that ring emulates.
class readiness_host {
 public:
  // Starts waiting until `fd` reports one of `events` (or an error); the host then calls
  // engine::attempt and engine::finish. 0, or -errno (-EPERM: this fd cannot be polled).
  virtual int watch(op_base& op, int fd, std::uint32_t events) noexcept = 0;
  // Stops waiting (a cancel). True: stopped now, the engine completes the op; false: the wait
  // ends later, through engine::finish with -ECANCELED (or a result that won the race).
  virtual bool unwatch(op_base& op) noexcept = 0;

 protected:
  ~readiness_host() = default;
};

}  // namespace couring::emulation
