// Stackful fibers (Boost.Context) scheduled by the same loop as coroutines, awaiting the same ops.
//
//   auto f = spawn_fiber([&] {
//     auto n = this_fiber::await(couring::read(fd, buffer(buf)));   // suspends the fiber, not the thread
//     legacy_parse(buf, *n, [&](auto& reply) { couring::blocking::send_all(sock, reply); });
//     return *n;
//   });
//   std::size_t n = co_await f;           // a task awaits the fiber (value or exception)
//
// Inside a fiber, this_fiber::await(x) works on any awaitable: every io op, sleep_for, a task,
// when_any, another fiber. The blocking-style wrappers in <couring/blocking.hpp> are built on it.
// Never block the thread inside a fiber (no plain read(2) on a socket, no std::mutex waits):
// that stalls every task and fiber of the shard.
#pragma once

#include <couring/current_token.hpp>
#include <couring/join.hpp>
#include <couring/resume_item.hpp>
#include <couring/scheduler.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace couring {

struct fiber_options {
  // Usable stack bytes (rounded up to whole pages); a 64 KiB guard area below it turns an
  // overflow into a clean crash with a message. Stacks are pooled and reused per thread.
  std::size_t stack_size = 64 * 1024;
  // Stopping this token cancels the fiber: its current and later awaits see operation_canceled.
  // (Initialised here so that `{.stack_size = n}` draws no -Wmissing-field-initializers.)
  stop_token token{};
};

namespace detail {

struct fiber_core;  // defined in runtime/fiber.cpp, where Boost.Context is used

class fiber_body {
 public:
  virtual ~fiber_body() = default;
  virtual void run() = 0;  // may throw: the exception goes to whoever joins the fiber
};

template <class T>
class fiber_value : public fiber_body {
 public:
  using stored = std::conditional_t<std::is_void_v<T>, bool, T>;
  std::optional<stored> value;
};

template <class T, class F>
class fiber_callable final : public fiber_value<T> {
 public:
  explicit fiber_callable(F fn) : fn_(std::move(fn)) {}
  void run() override {
    if constexpr (std::is_void_v<T>) {
      fn_();
      this->value.emplace(true);
    } else {
      this->value.emplace(fn_());
    }
  }

 private:
  F fn_;
};

fiber_core* fiber_start(std::unique_ptr<fiber_body> body, const fiber_options& options);
void fiber_release_handle(fiber_core* f) noexcept;  // the handle is gone (joined or detached)
bool fiber_finished(const fiber_core* f) noexcept;
std::exception_ptr fiber_error(const fiber_core* f) noexcept;
void fiber_mark_joined(fiber_core* f) noexcept;
// Posts `w` when the fiber finishes; false if it already has (then nothing is posted). On the
// fiber's own shard only.
bool fiber_notify_when_finished(fiber_core* f, work_item& w) noexcept;
void fiber_cancel_notification(fiber_core* f) noexcept;
void fiber_request_stop(fiber_core* f) noexcept;

fiber_core* current_fiber() noexcept;
stop_token fiber_token(fiber_core* f) noexcept;
// On the fiber's stack: switches back to the loop until fiber_wake() is called. Throws only the
// exception that unwinds a fiber destroyed at shutdown, which must reach the fiber's entry.
void fiber_suspend(fiber_core* f);
// Lets a suspended fiber go on: at once when called on the loop's stack (then it returns once the
// fiber has suspended again or finished), at the loop's next turn otherwise.
void fiber_wake(fiber_core* f) noexcept;
bool fiber_suspended(const fiber_core* f) noexcept;

// The coroutine this_fiber::await runs: it awaits on the fiber's behalf (with the fiber's stop
// token) and wakes the fiber when done.
template <class T>
class fiber_bridge {
 public:
  struct promise_type : promise_base {
    fiber_core* fiber = nullptr;
    bool finished = false;
    std::optional<T> value;
    std::exception_ptr error;

    fiber_bridge get_return_object() noexcept {
      return fiber_bridge(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    template <class U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
    void unhandled_exception() noexcept { error = std::current_exception(); }
    struct final_awaiter {
      bool await_ready() noexcept { return false; }
      void await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        promise_type& p = h.promise();
        p.finished = true;
        // A bridge that finished while the fiber was still starting it needs no wake-up. A woken
        // fiber may run at once and destroy this frame: nothing here is touched after the wake.
        if (fiber_core* f = p.fiber; fiber_suspended(f)) fiber_wake(f);
      }
      void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
  };

  explicit fiber_bridge(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  fiber_bridge(fiber_bridge&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  fiber_bridge(const fiber_bridge&) = delete;
  ~fiber_bridge() {
    if (handle_) handle_.destroy();
  }

  T run_in(fiber_core* f) {
    promise_type& p = handle_.promise();
    p.fiber = f;
    p.set_token(fiber_token(f));
    detail::resume_flat(handle_);
    while (!p.finished) fiber_suspend(f);
    if (p.error) std::rethrow_exception(p.error);
    return std::move(*p.value);
  }

 private:
  std::coroutine_handle<promise_type> handle_;
};

template <class A>
fiber_bridge<awaited_t<A>> make_fiber_bridge(A&& a) {
  if constexpr (std::is_same_v<typename awaited<A>::raw, void>) {
    co_await std::forward<A>(a);
    co_return std::monostate{};
  } else {
    co_return co_await std::forward<A>(a);
  }
}

}  // namespace detail

// A fiber's handle: co_await it from a task, or this_fiber::await it from another fiber, for the
// fiber's value (or its exception). Dropping the handle detaches the fiber; if a detached fiber
// fails, its exception goes to the runtime's unhandled-exception handler. The handle belongs to
// the fiber's shard: await, cancel and drop it there (docs/fibers.md).
template <class T>
class fiber {
 public:
  fiber(detail::fiber_core* core, detail::fiber_value<T>* body) noexcept : core_(core), body_(body) {}
  fiber(fiber&& o) noexcept : core_(std::exchange(o.core_, nullptr)), body_(o.body_) {}
  fiber& operator=(fiber&& o) noexcept {
    if (this != &o) {
      if (core_) detail::fiber_release_handle(core_);
      core_ = std::exchange(o.core_, nullptr);
      body_ = o.body_;
    }
    return *this;
  }
  fiber(const fiber&) = delete;
  ~fiber() {
    if (core_) detail::fiber_release_handle(core_);
  }

  bool done() const noexcept { return detail::fiber_finished(core_); }
  // Cancels the fiber: its current await (and every later one) yields operation_canceled.
  void cancel() noexcept { detail::fiber_request_stop(core_); }

  class [[nodiscard]] awaiter {
   public:
    explicit awaiter(fiber& f) noexcept : f_(f) {}
    awaiter(awaiter&& o) noexcept : f_(o.f_) {}
    ~awaiter() {
      if (registered_) detail::fiber_cancel_notification(f_.core_);
    }
    bool await_ready() const noexcept { return detail::fiber_finished(f_.core_); }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      item_.handle = h;
      registered_ = detail::fiber_notify_when_finished(f_.core_, item_);
      return registered_;
    }
    T await_resume() {
      registered_ = false;
      detail::fiber_mark_joined(f_.core_);
      if (std::exception_ptr e = detail::fiber_error(f_.core_)) std::rethrow_exception(e);
      if constexpr (!std::is_void_v<T>) return std::move(*f_.body_->value);
    }

   private:
    fiber& f_;
    resume_item item_;
    bool registered_ = false;
  };
  awaiter operator co_await() & noexcept { return awaiter(*this); }
  awaiter operator co_await() && noexcept { return awaiter(*this); }

 private:
  detail::fiber_core* core_;
  detail::fiber_value<T>* body_;
};

// Starts `fn` as a fiber on the current shard (it first runs at the loop's next turn).
template <class F>
fiber<std::invoke_result_t<F&>> spawn_fiber(F fn, fiber_options options = {}) {
  using T = std::invoke_result_t<F&>;
  auto body = std::make_unique<detail::fiber_callable<T, F>>(std::move(fn));
  detail::fiber_value<T>* value = body.get();
  detail::fiber_core* core = detail::fiber_start(std::move(body), options);
  return fiber<T>(core, value);
}

namespace this_fiber {

// Whether the caller runs inside a fiber.
inline bool inside() noexcept { return detail::current_fiber() != nullptr; }

// Suspends the calling fiber (not the thread) until `a` completes, and returns what co_await
// would have (void results as std::monostate). std::logic_error outside a fiber.
template <class A>
auto await(A&& a) {
  detail::fiber_core* f = detail::current_fiber();
  if (!f) throw std::logic_error("couring::this_fiber::await called outside a fiber");
  auto bridge = detail::make_fiber_bridge(std::forward<A>(a));
  return bridge.run_in(f);
}

// The fiber's stop token.
inline stop_token token() {
  detail::fiber_core* f = detail::current_fiber();
  if (!f) throw std::logic_error("couring::this_fiber::token called outside a fiber");
  return detail::fiber_token(f);
}

}  // namespace this_fiber
}  // namespace couring
