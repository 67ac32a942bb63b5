// op_awaitable: what `co_await read(...)` suspends on. It holds the op (so the op lives in the
// awaiting coroutine's frame), submits it to the current shard's backend, ties it to the awaiting
// task's stop token, and converts the final `res` into a result<T>.
#pragma once

#include <couring/error.hpp>
#include <couring/op.hpp>
#include <couring/priority.hpp>
#include <couring/result.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>
#include <couring/unique_fd.hpp>

#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <type_traits>

namespace couring {
namespace detail {

// The one conversion from `res` to a result: -errno becomes an error_code here and nowhere else.
template <class R>
struct result_from_res;

template <>
struct result_from_res<result<void>> {
  static result<void> make(int res) noexcept {
    if (res < 0) return error_from_res(res);
    return {};
  }
};
template <>
struct result_from_res<result<std::size_t>> {
  static result<std::size_t> make(int res) noexcept {
    if (res < 0) return error_from_res(res);
    return static_cast<std::size_t>(res);
  }
};
template <>
struct result_from_res<result<unsigned>> {
  static result<unsigned> make(int res) noexcept {
    if (res < 0) return error_from_res(res);
    return static_cast<unsigned>(res);
  }
};
// Anything that owns a new descriptor (unique_fd, file, tcp_stream...) is made from one; the fd is
// owned from the moment the result exists, so no outcome can leak it.
template <class T>
  requires std::is_constructible_v<T, unique_fd>
struct result_from_res<result<T>> {
  static result<T> make(int res) noexcept {
    if (res < 0) return error_from_res(res);
    return T(unique_fd(res));
  }
};

template <class R>
R make_result(int res) noexcept {
  return result_from_res<R>::make(res);
}

// now + d on steady_clock, saturating instead of overflowing (with_timeout(hours::max()) never fires).
template <class Rep, class Period>
std::chrono::steady_clock::time_point saturating_deadline(std::chrono::duration<Rep, Period> d) noexcept {
  using clock = std::chrono::steady_clock;
  auto now = clock::now();
  if (d <= d.zero()) return now;
  // Compared in floating point: converting hours::max() to nanoseconds would overflow.
  if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(clock::time_point::max() - now))
    return clock::time_point::max();
  return now + std::chrono::duration_cast<clock::duration>(d);
}

// Asks the backend to stop the op when the token fires.
struct op_canceler {
  op_base* op;
  void operator()() const noexcept {
    if (op->cancel == cancel_reason::none) op->cancel = cancel_reason::requested;
    detail::cancel(*op);
  }
};

}  // namespace detail

namespace detail {
// For the library's own composites (chain, file_table): the op inside an awaitable, before it is
// submitted.
struct op_access {
  template <class A>
  static op_base& op(A& a) noexcept {
    return a.op_;
  }
  template <class A>
  static void watch_token(A& a, const stop_token* t) noexcept {
    a.watch_token(t);
  }
};
}  // namespace detail

// Derived supplies `await_resume()`; everything else about submitting is shared here.
template <class Derived>
class op_awaitable {
  friend struct detail::op_access;

 public:
  explicit op_awaitable(const request& r) noexcept : op_(r) {}
  // Movable only until awaited (GCC 12 moves an awaiter named by an xvalue into the frame);
  // once submitted, a backend points at the op and it must stay put.
  op_awaitable(op_awaitable&& o) noexcept : op_(std::move(o.op_)), token_(std::move(o.token_)) {}
  op_awaitable& operator=(op_awaitable&&) = delete;

  // Ops that finished before submission (bad arguments, zero-length transfers) never suspend.
  bool await_ready() const noexcept { return op_.state == op_state::completed; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    const stop_token* t = token_.stop_possible() ? &token_ : detail::token_of(h);
    return start(h, t);
  }

  // Options, chained on the temporary: `co_await read(fd, buf).with_priority(io_priority::idle())`.
  Derived&& with_priority(io_priority p) && noexcept {
    op_.ioprio = p.value();
    return static_cast<Derived&&>(*this);
  }
  // O_DIRECT reads and writes: complete by polling the device instead of waiting for its
  // interrupt, on an IORING_SETUP_IOPOLL ring (runtime_config::uring_iopoll). The loop then
  // spins while such ops are in flight. A hint: without that ring, on the thread pool, or for a
  // file whose device cannot poll, the op runs as usual with the same result.
  Derived&& polled() && noexcept {
    op_.polled = true;
    return static_cast<Derived&&>(*this);
  }
  // Observe this token instead of the awaiting task's.
  Derived&& with_token(stop_token t) && noexcept {
    token_ = std::move(t);
    return static_cast<Derived&&>(*this);
  }
  // Give up at `deadline` (steady_clock): the op is cancelled and yields std::errc::timed_out,
  // distinct from operation_canceled. On io_uring this is an IORING_OP_LINK_TIMEOUT linked to the
  // op; elsewhere a timer of the loop. An op that finishes first yields its own result.
  Derived&& with_deadline(std::chrono::steady_clock::time_point deadline) && noexcept {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    op_.deadline_ns = ns > 0 ? ns : 1;  // 0 means "no deadline"; a deadline in the past expires at once
    return static_cast<Derived&&>(*this);
  }
  template <class Rep, class Period>
  Derived&& with_timeout(std::chrono::duration<Rep, Period> timeout) && noexcept {
    return std::move(*this).with_deadline(detail::saturating_deadline(timeout));
  }

 protected:
  // The final res. A cancelled op reports -ECANCELED, or -ETIMEDOUT when its deadline was the
  // reason; io_uring reports some interrupted work as -EINTR, which means the same here.
  int finish() noexcept {
    cancel_hook_.reset();
    if ((op_.res == -ECANCELED || op_.res == -EINTR) && op_.cancel != cancel_reason::none)
      return op_.cancel == cancel_reason::timed_out ? -ETIMEDOUT : -ECANCELED;
    return op_.res;
  }

  op_base op_;

 private:
  bool start(std::coroutine_handle<> h, const stop_token* t) noexcept {
    if (t && t->stop_requested()) {
      op_.complete_inline(-ECANCELED);  // cancelled before submission: nothing reached a backend
      return false;
    }
    op_.waiter = h;
    if (!detail::submit(op_)) return true;  // shutdown: never submitted; the frame will be destroyed
    if (t && t->stop_possible()) cancel_hook_.emplace(*t, detail::op_canceler{&op_});
    return true;
  }

  // For chain(): ties the op to a token once it was submitted by other means.
  void watch_token(const stop_token* t) noexcept {
    if (token_.stop_possible()) t = &token_;
    if (t && t->stop_possible()) cancel_hook_.emplace(*t, detail::op_canceler{&op_});
  }

  stop_token token_;
  std::optional<stop_callback<detail::op_canceler>> cancel_hook_;
};

// The common case: the result is derived from `res` alone.
template <class Result>
class [[nodiscard]] io_awaitable : public op_awaitable<io_awaitable<Result>> {
 public:
  using op_awaitable<io_awaitable<Result>>::op_awaitable;

  // An op settled before submission with `res`.
  static io_awaitable settled(int res) noexcept { return io_awaitable(nop_req{}, res); }

  Result await_resume() noexcept { return detail::make_result<Result>(this->finish()); }

 private:
  io_awaitable(const request& r, int res) noexcept : op_awaitable<io_awaitable<Result>>(r) { this->op_.complete_inline(res); }
};

// Free-function spelling of the options: `co_await with_timeout(recv(fd, buf), 50ms)`.
template <class Awaitable, class Rep, class Period>
  requires requires(Awaitable&& a, std::chrono::duration<Rep, Period> d) { std::move(a).with_timeout(d); }
decltype(auto) with_timeout(Awaitable&& op, std::chrono::duration<Rep, Period> timeout) noexcept {
  return std::move(op).with_timeout(timeout);
}
template <class Awaitable>
  requires requires(Awaitable&& a, std::chrono::steady_clock::time_point t) { std::move(a).with_deadline(t); }
decltype(auto) with_deadline(Awaitable&& op, std::chrono::steady_clock::time_point deadline) noexcept {
  return std::move(op).with_deadline(deadline);
}

}  // namespace couring
