// engine: the POSIX-AIO emulation, one per shard. It performs an op the way each request's
// description says (emulate/attempt/exec), on one of four routes:
//   immediate  - it never blocks (nop, socket, shutdown) or a first non-blocking attempt settled it;
//   readiness  - pollable fds (sockets, pipes, eventfds, ttys): wait for readiness through the
//                backend's readiness_host, then the non-blocking attempt again; no thread is pinned;
//   worker     - files and everything else that may block: one blocking syscall on the shared
//                worker pool, reported as aio_return would report it;
//   timer      - sleeps, kept by the loop's own timers.
// The thread-pool backend sends it every op; the io_uring backend the kinds the kernel lacks (or
// that configuration hides). Deadlines of ops it holds are timers of the loop.
#pragma once

#include "emulated_op.hpp"
#include "worker_queue.hpp"

#include "io/backend/op_counters.hpp"

#include <couring/op.hpp>
#include <couring/scheduler.hpp>

#include <cstddef>

namespace couring::emulation {

class worker_pool;

class engine {
 public:
  engine(scheduler& loop, worker_pool& workers, readiness_host& readiness, op_counters& counters) noexcept;
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Takes `op` (already marked submitted by its backend) until it completes.
  void submit(op_base& op) noexcept;
  // POSIX AIO's cancel: a waiting op is dequeued (AIO_CANCELED), a running syscall is interrupted
  // where the kind allows it, or finishes (AIO_NOTCANCELED); a finished one is on its way
  // (AIO_ALLDONE). Either way the op completes exactly once.
  void cancel(op_base& op) noexcept;
  // Every op it holds but readiness waiters (their host cancels those): shutdown.
  void cancel_all() noexcept;

  // For the readiness host: the non-blocking attempt after `fd` became ready (-EAGAIN: keep
  // waiting), and the end of an op's wait with its result.
  static int attempt(op_base& op) noexcept;
  static void finish(op_base& op, int res) noexcept;

  // Ops waiting for room in the workers' queue (none may be left when the backend goes).
  std::size_t parked() const noexcept { return workers_.parked(); }

 private:
  void to_workers(op_base& op) noexcept;
  void arm_deadline(op_base& op) noexcept;
  void start_sleep(op_base& op, std::int64_t wake_ns) noexcept;
  void link_sleeper(op_base& op) noexcept;
  void unlink_sleeper(op_base& op) noexcept;
  static void deadline_fired(work_item& w) noexcept;
  static void sleep_fired(work_item& w) noexcept;
  static void worker_done(work_item& w) noexcept;

  scheduler& loop_;
  readiness_host& readiness_;
  op_counters& counters_;
  worker_queue workers_;
  op_base* sleeping_ = nullptr;  // sleeps armed on the loop's timers, so that cancel_all finds them
};

}  // namespace couring::emulation
