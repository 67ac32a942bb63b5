// op_base: the state of one submitted operation. It lives inside the awaitable, hence inside the
// awaiting coroutine's frame: submitting an op allocates nothing. The kernel or a worker may point
// at it until it completes, so it never moves once submitted.
//
// Life of an op (the protocol every backend follows):
//   idle --submit--> submitted --its holder posts it to the owner's scheduler--> completed --run--> resumed
// A backend completes an op exactly once, by setting `res` and handing it to its owner's
// scheduler (never by resuming it). cancel() only asks; the answer still arrives as that one
// completion.
//
// op_base holds what every op has. What the component holding an op keeps about it is that
// component's own struct, in `held`; registered files (slot_binding), chains and streams
// (op_observer, multishot_op) are pieces an op takes only when it uses them.
#pragma once

#include <couring/request.hpp>
#include <couring/unique_fd.hpp>
#include <couring/work_item.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <vector>

namespace couring {

class backend;  // io/backend/backend.hpp: private to the library
struct op_base;

enum class op_state : std::uint8_t {
  idle,       // not submitted (or settled before submission: validation error, zero-length I/O)
  submitted,  // a backend holds it
  completed,  // the result is final; the owner's scheduler will resume (or has resumed) the waiter
};

// Why an op was asked to stop; a -ECANCELED completion caused by a deadline becomes -ETIMEDOUT.
enum class cancel_reason : std::uint8_t { none, requested, timed_out };

// Receives an op's results instead of a waiting coroutine: a chain counting its members, a
// multishot stream taking every result. Called on the owner thread.
class op_observer {
 public:
  // While the op stays armed (a multishot op's results) state == submitted; the last call has
  // state == completed and ends the op.
  virtual void on_result(op_base& op) noexcept = 0;

 protected:
  ~op_observer() = default;
};

// A table of registered ("direct") descriptors, as backends see it: slot -> real descriptor, and
// whether the ring has the table registered too (then native ops name the slot with
// IOSQE_FIXED_FILE and skip the kernel's per-op file lookup).
struct fixed_files {
  bool in_kernel = false;
  std::vector<int> fds;  // the real descriptor of each slot; -1 when the kernel alone holds it
};

// Registered files, for an op that takes them (file_table's awaitables own one).
struct slot_binding {
  static constexpr std::size_t max_descriptors = 2;  // splice and tee name two

  // The request's descriptor fields name slots of this table (nullptr: plain descriptors).
  const fixed_files* table = nullptr;
  // accept/openat: the new descriptor goes straight into slot `install_slot` of `install_into`
  // where the ring holds that table (a direct descriptor, never in the process's fd table);
  // elsewhere it comes back as the result for the table to adopt, and install_slot is -1.
  const fixed_files* install_into = nullptr;
  int install_slot = -1;
  // Where a slot is not named to the kernel, the op runs on duplicates of the slots' descriptors,
  // closed with the binding: removing a slot meanwhile neither fails the op nor lets the
  // descriptor's number be reused under it.
  unique_fd references[max_descriptors];
};

namespace detail {
// Room for what the component holding an op keeps about it while it holds it (a backend's own
// struct, defined privately where that backend is): holding an op never allocates, and no field
// of op_base means different things to different holders. The holder claims the room when the
// op reaches it; the next holder claims it afresh.
class holder_room {
 public:
  static constexpr std::size_t size = 80;

  template <class T>
  T& claim() noexcept {
    static_assert(sizeof(T) <= size && alignof(T) <= alignof(std::max_align_t), "a holder's state must fit the room");
    static_assert(std::is_trivially_destructible_v<T>, "a holder's state is dropped, never destroyed");
    return *::new (static_cast<void*>(bytes_)) T{};
  }
  template <class T>
  T& get() noexcept {
    return *std::launder(reinterpret_cast<T*>(bytes_));
  }
  template <class T>
  const T& get() const noexcept {
    return *std::launder(reinterpret_cast<const T*>(bytes_));
  }

 private:
  alignas(std::max_align_t) unsigned char bytes_[size];
};
}  // namespace detail

struct op_base : work_item {
  explicit op_base(const request& r) noexcept : work_item(&op_base::finish), req(r) {}
  // An op may move only before it is submitted: from then on a backend (or the kernel) points at
  // it. Pieces that point back at their owner (a slot_binding) are re-pointed by that owner.
  op_base(op_base&& o) noexcept;
  op_base& operator=(op_base&&) = delete;

  // Marks the op completed with `r` before it was ever submitted.
  void complete_inline(int r) noexcept {
    res = r;
    state = op_state::completed;
  }

  request req;
  std::int32_t res = 0;                 // >= 0: the value; < 0: -errno
  op_state state = op_state::idle;
  cancel_reason cancel = cancel_reason::none;
  std::uint16_t ioprio = 0;             // IOPRIO_PRIO_VALUE(class, level); 0 = the thread's default
  bool polled = false;                  // a hint: complete by busy polling where the ring offers it
  std::coroutine_handle<> waiter;       // resumed by the owner's scheduler, nowhere else
  op_observer* observer = nullptr;      // set: it receives the results instead of `waiter`
  backend* owner = nullptr;             // the backend it was submitted to (its shard's)
  // Absolute CLOCK_MONOTONIC deadline in ns (with_timeout/with_deadline); 0: none. Expiry cancels
  // the op, and the -ECANCELED it completes with is reported as timed_out.
  std::int64_t deadline_ns = 0;
  std::int64_t submitted_ns = 0;        // the owner loop's clock when it was submitted (latency statistics)
  slot_binding* slots = nullptr;        // registered files, if the op uses them
  detail::holder_room held;             // the current holder's own state

  // An op's run function once it completed, on the owner thread: statistics, then the waiter
  // (or observer) — the only place either is called. A holder that interposes on completion
  // (the emulation, for ops a worker finished) puts it back and calls it.
  static void finish(work_item& w) noexcept;
};

// Multishot ops (accept_stream, recv_stream): the same op completes many times while armed, and
// each result comes with the CQE's flags (a provided buffer's id).
struct multishot_op : op_base {
  using op_base::op_base;
  std::uint32_t cqe_flags = 0;
};

// Completion flags, as the kernel numbers them in a CQE (io/uring checks them against liburing).
inline constexpr std::uint32_t cqe_flag_buffer = 1u << 0;  // the upper 16 bits name a provided buffer
inline constexpr std::uint32_t cqe_flag_more = 1u << 1;    // more completions follow for this op
inline constexpr unsigned cqe_buffer_shift = 16;

namespace detail {
// The door from public templates into the library's backends (io/op.cpp).
// Submits `op` on the calling thread's shard; false if the shard is shutting down (the op was
// not submitted, and its awaiting frame will be destroyed).
bool submit(op_base& op) noexcept;
// Asks the op's backend to stop it (cancel_reason already set by the caller).
void cancel(op_base& op) noexcept;
// Submits ops as one linked chain (each runs after the previous one succeeded; `hard`: after it
// finished, however). Refused where the backend cannot link them: nothing was submitted.
enum class link_outcome { submitted, refused, shutting_down };
link_outcome submit_linked(op_base* const* ops, std::size_t count, bool hard) noexcept;
// io_uring's rule for a member of a chain: an error, or a result short of the request's minimum,
// ends the chain.
bool breaks_chain(const op_base& op) noexcept;
}  // namespace detail

}  // namespace couring
