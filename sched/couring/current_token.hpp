// co_await current_stop_token(): the stop token of the awaiting task (what its ops observe).
#pragma once

#include <couring/stop_token.hpp>
#include <couring/task.hpp>

#include <coroutine>

namespace couring {

class [[nodiscard]] current_stop_token_awaitable {
 public:
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if (const stop_token* t = detail::token_of(h)) token_ = *t;
    return false;  // never suspends: it only reads the awaiting frame
  }
  stop_token await_resume() noexcept { return std::move(token_); }

 private:
  stop_token token_;
};

inline current_stop_token_awaitable current_stop_token() noexcept { return {}; }

}  // namespace couring
