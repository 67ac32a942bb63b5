// op_base: the state of one submitted operation. It lives inside the awaitable, hence inside the
// awaiting coroutine's frame: submitting an op allocates nothing. The kernel or a worker may point
// at it until it completes, so it never moves.
//
// Life of an op (the protocol every backend follows):
//   idle --submit--> submitted --backend posts it to the owner scheduler--> completed --run--> resumed
// A backend completes an op exactly once, by setting `res` and handing it to its owner scheduler
// (never by resuming it). cancel() only asks; the answer still arrives as that one completion.
#pragma once

#include <couring/assert.hpp>
#include <couring/request.hpp>
#include <couring/scheduler.hpp>
#include <couring/timer.hpp>
#include <couring/unique_fd.hpp>
#include <couring/work_item.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <vector>

namespace couring {

enum class op_state : std::uint8_t {
  idle,       // not submitted (or completed before submission: validation error, zero-length I/O)
  submitted,  // a backend owns it
  completed,  // the result is final; the owner scheduler will resume (or has resumed) the waiter
};

// Why an op was asked to stop; a -ECANCELED completion caused by a deadline becomes -ETIMEDOUT.
enum class cancel_reason : std::uint8_t { none, requested, timed_out };

// Completion flags, as the kernel numbers them in a CQE (io/uring/prep.cpp checks them against
// liburing); backends that emulate a feature report results with the same flags.
inline constexpr std::uint32_t cqe_flag_buffer = 1u << 0;  // the upper 16 bits name a provided buffer
inline constexpr std::uint32_t cqe_flag_more = 1u << 1;    // more completions follow for this op
inline constexpr unsigned cqe_buffer_shift = 16;

struct op_base;

// A table of registered ("direct") descriptors, as backends see it: slot -> real descriptor, and
// whether the ring has the table registered too (then native ops name the slot with
// IOSQE_FIXED_FILE and skip the kernel's per-op file lookup).
struct fixed_files {
  bool in_kernel = false;
  std::vector<int> fds;  // the real descriptor of each slot; -1 when the kernel alone holds it
};

// The timer that enforces an op's deadline where the backend has no kernel-side timeout for it.
struct op_deadline : timer_node {
  explicit op_deadline(op_base* o) noexcept : timer_node(&op_deadline::fire), op(o) {}
  // Asks the backend to cancel the op, marking the cancellation as a timeout.
  static void fire(work_item& w) noexcept;
  op_base* op;
};

struct op_base : work_item {
  explicit op_base(const request& r) noexcept : work_item(&op_base::run_completion), req(r) {}
  // An op may move only before it is submitted: from then on a backend (or the kernel) points at it.
  op_base(op_base&& o) noexcept
      : work_item(&op_base::run_completion),
        req(o.req),
        res(o.res),
        on_shot(o.on_shot),
        state(o.state),
        cancel(o.cancel),
        ioprio(o.ioprio),
        polled(o.polled),
        deadline_ns(o.deadline_ns),
        files(o.files),
        install_into(o.install_into),
        install_slot(o.install_slot) {
    COURING_ASSERT(o.state != op_state::submitted, "an op was moved while a backend owns it");
  }
  op_base& operator=(op_base&&) = delete;

  // Marks the op completed with `r` before it was ever submitted.
  void complete_inline(int r) noexcept {
    res = r;
    state = op_state::completed;
  }

  request req;
  std::int32_t res = 0;
  std::uint32_t cqe_flags = 0;         // the completion's IORING_CQE_F_* flags (buffer id, more...)
  // Multishot ops (accept/recv streams): called on the owner thread for every result instead of
  // resuming a waiter. Results while the op stays armed come with state == submitted; the last
  // one (state == completed) ends the op.
  void (*on_shot)(op_base&) noexcept = nullptr;
  void* shot_context = nullptr;        // for on_shot's owner (a chain's join)
  op_state state = op_state::idle;
  cancel_reason cancel = cancel_reason::none;
  std::uint16_t ioprio = 0;            // IOPRIO_PRIO_VALUE(class, level); 0 = the thread's default
  bool polled = false;                 // a hint: complete by busy polling where the ring offers it
  std::coroutine_handle<> waiter;      // resumed by the owner scheduler, nowhere else
  scheduler* owner = nullptr;
  // Absolute CLOCK_MONOTONIC deadline in ns (with_timeout/with_deadline); 0: none. Expiry cancels
  // the op, and the -ECANCELED it completes with is reported as timed_out.
  std::int64_t deadline_ns = 0;
  op_deadline deadline_timer{this};
  std::int64_t submitted_ns = 0;       // the loop iteration it was submitted in (statistics)
  // Registered files: the op's descriptor is a slot of `files` (nullptr: a plain fd), and an
  // accept or openat may put its new descriptor straight into slot `install_slot` of
  // `install_into` (a direct descriptor, never in the process's fd table) where the ring has that
  // table registered.
  const fixed_files* files = nullptr;
  const fixed_files* install_into = nullptr;
  std::int32_t install_slot = -1;
  // Where a slot is not named to the kernel, the op runs on a duplicate of the slot's descriptor,
  // closed when the op completes: removing the slot meanwhile then neither fails the op nor lets
  // the descriptor's number be reused under it.
  unique_fd slot_reference;

  // Backend-private state: only the backend currently holding the op reads or writes these.
  op_base* link_prev = nullptr;        // intrusive lists (pool queues, readiness waiters)
  op_base* link_next = nullptr;
  std::uint32_t backend_index = 0;     // pool: timer heap slot; uring: unused
  std::uint32_t backend_events = 0;    // pool: readiness interest
  std::uint8_t backend_route = 0;      // which path the backend chose
  std::uint8_t cqes_expected = 0;      // uring: CQEs still to come before the op may resume
  kernel_timespec link_deadline{};     // uring: the LINK_TIMEOUT's time, read by the kernel at submission
  std::atomic<std::uint8_t> worker_state{0};  // pool: queued/running/done, shared with workers

 private:
  // Runs on the owner thread: the only place an op's waiter is resumed.
  static void run_completion(work_item& w) noexcept {
    auto& op = static_cast<op_base&>(w);
    op.state = op_state::completed;
    op.slot_reference.reset();
    if (op.deadline_timer.armed()) op.owner->disarm_timer(op.deadline_timer);
    op.owner->op_completed(op.req.index(), op.submitted_ns);
    if (op.on_shot) op.on_shot(op); else op.waiter.resume();
  }
};

// Backends call this on the owner thread to finish an op with its final result.
inline void complete(op_base& op, int res) noexcept {
  op.res = res;
  op.state = op_state::completed;
  op.owner->post(op);
}

// Workers call this from any thread: the op travels through the owner's remote queue.
inline void complete_from_worker(op_base& op, int res) noexcept {
  op.res = res;  // published by remote_queue::push's seq_cst CAS, read after drain's acquire
  op.owner->post_remote(op);
}

}  // namespace couring
