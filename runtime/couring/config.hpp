// runtime_config: everything a program may choose about the runtime, with defaults that suit a
// small machine. Environment variables override the matching fields, so any program can be run
// on either path without a rebuild (all of them: docs/environment.md):
//   COURING_BACKEND=auto|io_uring|thread_pool    which backend
//   COURING_URING_HIDE=read,openat,...|all       request kinds the io_uring backend emulates
//   COURING_POOL_THREADS=N                       worker threads of the thread pool
//   COURING_SHARDS=N                             number of shards
//   COURING_LOG=debug|info|notice|warning|error|off   how much couring says (default notice)
#pragma once

#include <couring/backend_info.hpp>
#include <couring/log.hpp>
#include <couring/scheduler.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace couring {

struct runtime_config {
  backend_choice backend = backend_choice::automatic;

  // Shards: one thread, one scheduler and one backend (ring or epoll loop) each. Shard 0 is the
  // thread that calls run(); the others are started by the runtime. 0: one per CPU the process
  // may use (sched_getaffinity).
  unsigned shards = 0;
  // Pin shard i to the i-th CPU the process may use (shard 0 pins the calling thread).
  bool pin_shards = false;

  // io_uring
  unsigned sq_entries = 256;
  unsigned cq_entries = 0;  // 0: twice sq_entries
  // Request kinds ("read", "openat", ... as request_name() spells them, or "all") that the
  // io_uring backend runs through the emulation although the kernel has their opcode.
  std::vector<std::string> uring_hidden_requests;
  // SQPOLL: a kernel thread submits for each ring (no io_uring_enter to submit). It keeps a CPU
  // busy while there is work and is harmful on small machines (2 vCPUs: several times slower in
  // fio here), hence opt-in. Idle time before the thread sleeps, and the CPU to pin it to.
  bool uring_sqpoll = false;
  unsigned uring_sqpoll_idle_ms = 1000;
  int uring_sqpoll_cpu = -1;
  // IOPOLL: a second ring per shard, set up with IORING_SETUP_IOPOLL, for reads and writes marked
  // `.polled()` on O_DIRECT files. Their completions are found by polling the device's queue
  // instead of an interrupt: lower latency on NVMe with poll queues (nvme.poll_queues), at the
  // price of a CPU spinning while they are in flight. Ops the device cannot poll move to the
  // ordinary ring. Opt-in for the same reason as SQPOLL.
  bool uring_iopoll = false;
  // An opcode allow-list (IORING_REGISTER_RESTRICTIONS), for deployments that allow io_uring only
  // for trusted uses: request kinds ("read", "recv"... or "couring" for every kind couring can
  // issue). The ring then refuses other opcodes: such an op fails with permission_denied (EACCES).
  // Empty: no restriction.
  std::vector<std::string> uring_allowed_requests;

  // Wake a sleeping io_uring shard from another with IORING_OP_MSG_RING (5.18) instead of its
  // eventfd. Either way a burst of cross-shard messages costs one wakeup.
  bool uring_msg_ring_wakeups = true;

  // Thread pool (used by the thread-pool backend, and by io_uring for opcodes the kernel lacks).
  // Workers start when ops arrive and none is idle, up to pool_threads; one idle for
  // pool_idle_timeout exits. A program that never needs a worker runs none.
  unsigned pool_threads = 0;                // at most; 0: 4 per CPU the process may use, at least 16
  std::size_t pool_queue_capacity = 4096;   // queued blocking ops; more wait, parked, at their shard
  std::chrono::milliseconds pool_idle_timeout{10'000};

  // Exceptions escaping detached tasks; empty: log and rethrow from run().
  unhandled_exception_handler on_unhandled_exception;

  // A closed peer then yields EPIPE instead of killing the process (set only if SIGPIPE is at its
  // default disposition, so a program's own choice stands).
  bool ignore_sigpipe = true;

  // Diagnostics (<couring/log.hpp>), applied for the whole process when the runtime starts.
  // Lines below the threshold are dropped; unset: as it is (COURING_LOG, else notice).
  std::optional<log_level> log_threshold;
  // Receives couring's lines instead of stderr, from the runtime's start on, including what the
  // runtime's own start has to say; empty: leave the sink as it is.
  log_sink log_output;
};

// The config with environment overrides applied. A variable with a bad value is reported in one
// warning line (the variable, the value, what it accepts) and the config's own value is kept: a
// mere environment variable never stops a program.
runtime_config apply_environment(runtime_config config);

}  // namespace couring
