// task<T>: a lazy, move-only coroutine that produces a T (or throws). It starts when awaited and
// hands control back to its awaiter by symmetric transfer, so a chain of a million nested awaits
// uses constant stack, at any optimisation level (detail/flat_resume.hpp).
#pragma once

#include <couring/detail/flat_resume.hpp>
#include <couring/detail/frame_allocator.hpp>
#include <couring/stop_token.hpp>

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace couring {

template <class T = void>
class task;

namespace detail {

// What every couring coroutine promise carries: who to resume when done, and the stop token that
// ops awaited inside it observe (inherited from the awaiting coroutine unless set explicitly).
class promise_base {
 public:
  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { deallocate_frame(frame, size); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
      std::coroutine_handle<> c = h.promise().continuation_;
      return c ? transfer(h, c) : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }

  void set_continuation(std::coroutine_handle<> c) noexcept { continuation_ = c; }
  const stop_token& token() const noexcept { return token_; }
  void set_token(stop_token t) noexcept { token_ = std::move(t); }

 private:
  std::coroutine_handle<> continuation_;
  stop_token token_;
};

// The awaiting coroutine's token, when it is a couring coroutine; none otherwise.
template <class Promise>
const stop_token* token_of(std::coroutine_handle<Promise> h) noexcept {
  if constexpr (std::is_base_of_v<promise_base, Promise>) {
    return &h.promise().token();
  } else {
    (void)h;
    return nullptr;
  }
}

template <class T>
class task_promise : public promise_base {
 public:
  task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { result_.template emplace<2>(std::current_exception()); }

  template <class U>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    result_.template emplace<1>(std::forward<U>(v));
  }

  T take() {
    if (result_.index() == 2) std::rethrow_exception(std::get<2>(result_));
    return std::move(std::get<1>(result_));
  }

 private:
  std::variant<std::monostate, T, std::exception_ptr> result_;
};

template <>
class task_promise<void> : public promise_base {
 public:
  task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }
  void return_void() noexcept {}
  void take() {
    if (exception_) std::rethrow_exception(exception_);
  }

 private:
  std::exception_ptr exception_;
};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
  static_assert(!std::is_reference_v<T>, "task<T&> is not supported; return a pointer");

 public:
  using promise_type = detail::task_promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : handle_(h) {}
  task(task&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      destroy();
      handle_ = std::exchange(o.handle_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { destroy(); }

  bool valid() const noexcept { return static_cast<bool>(handle_); }
  bool done() const noexcept { return !handle_ || handle_.done(); }

  // Sets the stop token the task's ops observe instead of inheriting the awaiter's.
  task&& with_token(stop_token t) && noexcept {
    handle_.promise().set_token(std::move(t));
    return std::move(*this);
  }

  struct awaiter {
    handle_type handle;
    bool await_ready() const noexcept { return !handle || handle.done(); }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      handle.promise().set_continuation(awaiting);
      if (!handle.promise().token().stop_possible()) {
        if (const stop_token* t = detail::token_of(awaiting)) handle.promise().set_token(*t);
      }
      return detail::transfer(awaiting, handle);
    }
    T await_resume() { return handle.promise().take(); }
  };
  awaiter operator co_await() && noexcept { return awaiter{handle_}; }
  awaiter operator co_await() & noexcept { return awaiter{handle_}; }

  // For drivers (run, spawn, when_all): gives up ownership of the coroutine.
  handle_type release() noexcept { return std::exchange(handle_, {}); }

 private:
  void destroy() noexcept {
    if (handle_) handle_.destroy();
  }
  handle_type handle_;
};

namespace detail {
template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>(std::coroutine_handle<task_promise<T>>::from_promise(*this));
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>(std::coroutine_handle<task_promise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace couring
