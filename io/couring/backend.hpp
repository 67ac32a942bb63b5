// backend: the narrow interface between the loop and whatever performs I/O. Three verbs and a
// wakeup; everything else (which opcodes exist, readiness, workers, timers) is the backend's own
// business. Every method but wake() runs on the owner thread.
#pragma once

#include <couring/op.hpp>
#include <couring/result.hpp>
#include <couring/stat_counter.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include <sys/uio.h>
#include <string>

namespace couring {

enum class backend_kind : std::uint8_t { io_uring, thread_pool };

// Buffers the kernel picks from for multishot receives (an io_uring provided-buffer ring),
// registered on one backend. Owner thread only.
class provided_buffers {
 public:
  virtual ~provided_buffers() = default;
  virtual std::uint16_t group() const noexcept = 0;
  // Gives buffer `id` (`len` bytes at `addr`) to the kernel to fill.
  virtual void provide(void* addr, std::uint32_t len, std::uint16_t id) noexcept = 0;
};

const char* backend_name(backend_kind k) noexcept;

// A snapshot of what a backend counted, per request kind (indexed like `request`).
struct backend_stats {
  std::array<std::uint64_t, request_kinds> submitted{};
  std::array<std::uint64_t, request_kinds> fallbacks{};  // io_uring: ops the kernel lacks, run by the emulation
  std::uint64_t enters = 0;                              // io_uring_enter / epoll_wait calls
  std::uint64_t cq_overflows = 0;                        // times the kernel reported CQ overflow
  std::uint64_t pool_parked = 0;                         // ops that waited for room in a full pool queue
  std::uint64_t polled = 0;                              // io_uring: `.polled()` ops completed by device polling...
  std::uint64_t polled_refused = 0;                      // ...and those the file or device could not poll (EOPNOTSUPP)
  std::array<std::uint64_t, request_kinds> completed{};  // filled in from the scheduler by the runtime
  // Latency histogram per kind: latency[k][b] ops took less than 2^b microseconds (the last
  // bucket: the rest), measured from the loop iteration of submission to that of completion.
  std::array<std::array<std::uint64_t, scheduler::latency_buckets>, request_kinds> latency{};
};

struct backend_counters {
  std::array<stat_counter, request_kinds> submitted;
  std::array<stat_counter, request_kinds> fallbacks;
  stat_counter enters;
  stat_counter cq_overflows;
  stat_counter pool_parked;
  stat_counter polled;
  stat_counter polled_refused;

  backend_stats snapshot() const noexcept {
    backend_stats s;
    for (std::size_t k = 0; k < request_kinds; ++k) {
      s.submitted[k] = submitted[k].get();
      s.fallbacks[k] = fallbacks[k].get();
    }
    s.enters = enters.get();
    s.cq_overflows = cq_overflows.get();
    s.pool_parked = pool_parked.get();
    s.polled = polled.get();
    s.polled_refused = polled_refused.get();
    return s;
  }
};

// A table of descriptors registered with a ring (IORING_REGISTER_FILES). Owner thread only.
class registered_files {
 public:
  virtual ~registered_files() = default;
  // Puts `fd` into `slot` (-1 empties it): the ring keeps its own reference. -errno on failure.
  virtual int update(unsigned slot, int fd) noexcept = 0;
};

// Buffers registered with a ring (IORING_REGISTER_BUFFERS): pinned once, not per op.
class registered_buffers {
 public:
  virtual ~registered_buffers() = default;
};

class backend {
 public:
  virtual ~backend() = default;

  // Takes ownership of `op` until it completes. May defer the actual submission to wait().
  virtual void submit(op_base& op) noexcept = 0;

  // Asks for `op` to finish early. Its completion still arrives exactly once, through the normal
  // path, with -ECANCELED or with its real result if it finished first. A no-op if it already did.
  virtual void cancel(op_base& op) noexcept = 0;

  // Cancels every op in flight (shutdown). New submissions keep working.
  virtual void cancel_all() noexcept = 0;

  // Flushes submissions and hands every available completion to the owner scheduler. With
  // `block`, first sleeps until at least one completion or wake() arrives, or until
  // `deadline_ns` (CLOCK_MONOTONIC; -1: no deadline) passes.
  virtual void wait(bool block, std::int64_t deadline_ns) noexcept = 0;

  // Any thread: makes a blocked wait() return.
  virtual void wake() noexcept = 0;

  // Owner thread: wakes another shard's backend through this one, if this backend has a cheaper
  // way than target.wake() (io_uring: an IORING_OP_MSG_RING batched into the next enter).
  // Returns false when it has none; the caller then uses target.wake().
  virtual bool wake_other(backend& target) noexcept {
    (void)target;
    return false;
  }

  virtual backend_kind kind() const noexcept = 0;

  // Submits ops as one linked chain (each runs after the previous one succeeded; `hard`: after it
  // finished, however). Every op must be native. False if this backend cannot link; nothing was
  // submitted then.
  virtual bool submit_linked(op_base* const* ops, std::size_t count, bool hard) noexcept {
    (void)ops;
    (void)count;
    (void)hard;
    return false;
  }

  // A sparse table of `slots` registered descriptors; operation_not_supported where the backend
  // has none, or the kernel's error (ENOMEM, EMFILE...).
  virtual result<std::unique_ptr<registered_files>> register_files(unsigned slots) {
    (void)slots;
    return std::errc::operation_not_supported;
  }
  // Registers `count` buffers; the same outcomes. A ring holds one such registration at a time.
  virtual result<std::unique_ptr<registered_buffers>> register_buffers(const iovec* buffers, unsigned count) {
    (void)buffers;
    (void)count;
    return std::errc::operation_not_supported;
  }

  // Registers a ring of `entries` (a power of two) provided buffers; operation_not_supported where
  // the backend has none, or the kernel's error (ENOMEM under a small RLIMIT_MEMLOCK...).
  virtual result<std::unique_ptr<provided_buffers>> register_provided_buffers(unsigned entries) {
    (void)entries;
    return std::errc::operation_not_supported;
  }

  // Whether this backend hands requests of this kind (a `request` index) to the kernel as such,
  // rather than emulating them with blocking calls on workers. Helpers such as send_file use it
  // to pick the path that does not pin a worker.
  virtual bool native(std::size_t request_index) const noexcept {
    (void)request_index;
    return false;
  }
  backend_stats stats() const noexcept { return stats_.snapshot(); }

 protected:
  backend_counters stats_;
};

// Submits an op that is not awaited by a coroutine (a stream's multishot op, re-armed after each
// end) on the current scheduler. Owner thread only.
inline void submit_on_current(op_base& op) noexcept {
  scheduler* s = scheduler::current();
  op.owner = s;
  op.res = 0;
  op.cqe_flags = 0;
  op.cancel = cancel_reason::none;
  op.state = op_state::submitted;
  op.submitted_ns = s->loop_now_ns();
  s->op_submitted();
  s->io().submit(op);
}

}  // namespace couring
