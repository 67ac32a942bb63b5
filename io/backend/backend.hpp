// backend: the narrow interface between the op protocol and whatever performs I/O. It is the
// scheduler's event source (sched/event_source.hpp: wait, wake), plus three verbs on ops: submit,
// cancel, cancel_all. Which opcodes exist, readiness, workers and timers are each backend's own
// business. Every method but wake() runs on the owner thread. Private to the library.
#pragma once

#include "io/backend/op_counters.hpp"
#include "sched/event_source.hpp"

#include <couring/backend_info.hpp>
#include <couring/op.hpp>
#include <couring/result.hpp>
#include <couring/scheduler.hpp>

#include <sys/uio.h>

#include <cstdint>
#include <memory>

namespace couring {

// Buffers the kernel picks from for multishot receives (an io_uring provided-buffer ring),
// registered on one backend. Owner thread only.
class provided_buffers {
 public:
  virtual ~provided_buffers() = default;
  virtual std::uint16_t group() const noexcept = 0;
  // Gives buffer `id` (`len` bytes at `addr`) to the kernel to fill.
  virtual void provide(void* addr, std::uint32_t len, std::uint16_t id) noexcept = 0;
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

class backend : public event_source {
 public:
  explicit backend(scheduler& loop) noexcept : loop_(loop) {}
  virtual ~backend() = default;
  backend(const backend&) = delete;
  backend& operator=(const backend&) = delete;

  // The backend of the shard running on this thread (nullptr elsewhere); set by backend_scope.
  static backend* current() noexcept;

  scheduler& loop() const noexcept { return loop_; }

  // The op protocol's entry: takes `op` (its owner, state and statistics set) and submits it.
  void start(op_base& op) noexcept {
    op.owner = this;
    op.state = op_state::submitted;
    op.submitted_ns = loop_.loop_now_ns();
    counters_.submitted_one(op.req.index());
    submit(op);
  }
  // The same for a chain; refused where this backend cannot link these ops.
  bool start_linked(op_base* const* ops, std::size_t count, bool hard) noexcept;
  // Statistics of a completed op, on the owner thread, just before its waiter resumes.
  void finished(const op_base& op) noexcept {
    counters_.completed_one(op.req.index(), op.submitted_ns, loop_.loop_now_ns());
  }

  // Takes ownership of `op` until it completes. May defer the actual submission to wait().
  virtual void submit(op_base& op) noexcept = 0;

  // Asks for `op` to finish early. Its completion still arrives exactly once, through the normal
  // path, with -ECANCELED or with its real result if it finished first. A no-op if it already did.
  virtual void cancel(op_base& op) noexcept = 0;

  // Cancels every op in flight (shutdown). New submissions keep working.
  virtual void cancel_all() noexcept = 0;

  virtual backend_kind kind() const noexcept = 0;

  // Submits ops as one linked chain (each runs after the previous one succeeded; `hard`: after it
  // finished, however). False if this backend cannot link them; nothing was submitted then.
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

  std::size_t pending() const noexcept override { return static_cast<std::size_t>(counters_.in_flight()); }
  backend_stats stats() const noexcept { return counters_.snapshot(); }

 protected:
  scheduler& loop_;
  op_counters counters_;
};

// Makes a backend the current one of this thread for the scope's lifetime (its shard's thread).
class backend_scope {
 public:
  explicit backend_scope(backend& b) noexcept;
  ~backend_scope();
  backend_scope(const backend_scope&) = delete;
  backend_scope& operator=(const backend_scope&) = delete;

 private:
  backend* previous_;
};

// Backends call this on the owner thread to finish an op with its final result.
inline void complete(op_base& op, int res) noexcept {
  op.res = res;
  op.state = op_state::completed;
  op.owner->loop().post(op);
}

// Workers call this from any thread: the op travels through the owner's remote queue.
inline void complete_from_worker(op_base& op, int res) noexcept {
  op.res = res;  // published by the remote queue's seq_cst push, read after the owner's acquiring drain
  op.owner->loop().post_remote(op);
}

// Submits an op that no coroutine awaits (a stream's multishot op, re-armed after each end) on
// the current shard. Owner thread only.
inline void submit_on_current(op_base& op) noexcept {
  op.res = 0;
  op.cancel = cancel_reason::none;
  backend::current()->start(op);
}

}  // namespace couring
