// offload(fn): runs a blocking or CPU-heavy callable on the shared worker pool (the same workers
// that emulate POSIX AIO) and resumes the caller on its own shard with fn's result, so the shard
// keeps serving its other tasks meanwhile.
//
//   auto digest = co_await offload([&] { return sha256(big_buffer); });
//
// Rules: fn runs on a worker thread, where no couring scheduler runs: it must not co_await or
// touch shard-local state. The queue is bounded; when it is full the caller waits (back-pressure).
// Cancelled while queued: std::system_error(operation_canceled) and fn never runs; once running,
// it runs to completion (POSIX AIO's AIO_NOTCANCELED) and its result is delivered. An exception
// thrown by fn comes out of the co_await.
#pragma once

#include <couring/awaitable.hpp>

#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace couring {

template <class F>
class [[nodiscard]] offload_awaitable : public op_awaitable<offload_awaitable<F>> {
  using value_type = std::invoke_result_t<F&>;
  using stored = std::conditional_t<std::is_void_v<value_type>, bool, value_type>;

 public:
  explicit offload_awaitable(F fn) : op_awaitable<offload_awaitable<F>>(call_req{&invoke, this}), fn_(std::move(fn)) {}
  // The request points at this object: a move (allowed before submission) re-points it.
  offload_awaitable(offload_awaitable&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
      : op_awaitable<offload_awaitable<F>>(std::move(o)), fn_(std::move(o.fn_)) {
    std::get<call_req>(this->op_.req).context = this;
  }

  value_type await_resume() {
    int r = this->finish();
    if (r < 0) throw std::system_error(error_from_res(r), "offload");
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<value_type>) return std::move(*value_);
  }

 private:
  // On the worker thread. The results are read by the owner after the completion travelled
  // through its remote queue (release/acquire).
  static void invoke(void* self) noexcept {
    auto& a = *static_cast<offload_awaitable*>(self);
    try {
      if constexpr (std::is_void_v<value_type>) {
        a.fn_();
        a.value_.emplace(true);
      } else {
        a.value_.emplace(a.fn_());
      }
    } catch (...) {
      a.error_ = std::current_exception();
    }
  }

  F fn_;
  std::optional<stored> value_;
  std::exception_ptr error_;
};

template <class F>
offload_awaitable<F> offload(F fn) {
  return offload_awaitable<F>(std::move(fn));
}

}  // namespace couring
