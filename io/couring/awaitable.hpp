// op_awaitable: what `co_await read(...)` suspends on. It holds the op (so the op lives in the
// awaiting coroutine's frame), submits it to the current scheduler's backend, ties it to the
// awaiting task's stop token, and converts the final `res` into a result<T>.
#pragma once

#include <couring/assert.hpp>
#include <couring/backend.hpp>
#include <couring/error.hpp>
#include <couring/op.hpp>
#include <couring/priority.hpp>
#include <couring/result.hpp>
#include <couring/scheduler.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>
#include <couring/unique_fd.hpp>

#include <cerrno>
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

// Asks the backend to stop the op when the token fires.
struct op_canceler {
  op_base* op;
  void operator()() const noexcept {
    if (op->cancel == cancel_reason::none) op->cancel = cancel_reason::requested;
    op->owner->io().cancel(*op);
  }
};

}  // namespace detail

// What with_priority() and with_token() return: the op they were applied to, awaitable through
// this handle, with more options chainable. Only for immediate use in a co_await expression.
template <class Derived>
class [[nodiscard]] op_options {
 public:
  explicit op_options(Derived& op) noexcept : op_(&op) {}

  op_options with_priority(io_priority p) && noexcept { return std::move(*op_).with_priority(p); }
  op_options with_token(stop_token t) && noexcept { return std::move(*op_).with_token(std::move(t)); }

  bool await_ready() const noexcept { return op_->await_ready(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    return op_->await_suspend(h);
  }
  decltype(auto) await_resume() noexcept { return op_->await_resume(); }

 private:
  Derived* op_;
};

// Derived supplies `await_resume()`; everything else about submitting is shared here.
template <class Derived>
class op_awaitable {
 public:
  explicit op_awaitable(const request& r) noexcept : op_(r) {}
  op_awaitable(const op_awaitable&) = delete;
  op_awaitable& operator=(const op_awaitable&) = delete;

  // Ops that finished before submission (bad arguments, zero-length transfers) never suspend.
  bool await_ready() const noexcept { return op_.state == op_state::completed; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    const stop_token* t = token_.stop_possible() ? &token_ : detail::token_of(h);
    return start(h, t);
  }

  // Options, chained on the temporary: `co_await read(fd, buf).with_priority(io_priority::idle())`.
  // They return a small proxy by value rather than the awaitable itself: GCC 12 copies a glvalue
  // co_await operand into the frame, which an immovable awaitable forbids; the proxy may be copied
  // and points at the temporary, which lives until the end of the co_await's full-expression.
  op_options<Derived> with_priority(io_priority p) && noexcept {
    op_.ioprio = p.value();
    return op_options<Derived>(static_cast<Derived&>(*this));
  }
  // Observe this token instead of the awaiting task's.
  op_options<Derived> with_token(stop_token t) && noexcept {
    token_ = std::move(t);
    return op_options<Derived>(static_cast<Derived&>(*this));
  }

 protected:
  // The final res, with a deadline's cancellation reported as a timeout.
  int finish() noexcept {
    cancel_hook_.reset();
    if (op_.res == -ECANCELED && op_.cancel == cancel_reason::timed_out) return -ETIMEDOUT;
    return op_.res;
  }

  op_base op_;

 private:
  bool start(std::coroutine_handle<> h, const stop_token* t) noexcept {
    if (t && t->stop_requested()) {
      op_.complete_inline(-ECANCELED);  // cancelled before submission: nothing reached a backend
      return false;
    }
    scheduler* s = scheduler::current();
    COURING_ASSERT(s != nullptr, "an io op was awaited on a thread that runs no couring scheduler");
    op_.owner = s;
    op_.waiter = h;
    if (s->stopping()) return true;  // shutdown: never submitted; the frame will be destroyed
    op_.state = op_state::submitted;
    s->op_submitted();
    s->io().submit(op_);
    if (t && t->stop_possible()) cancel_hook_.emplace(*t, detail::op_canceler{&op_});
    return true;
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

}  // namespace couring
