// The machinery under when_all and when_any: children started together under one stop source,
// each storing its outcome, and the parent resumed when the last one has finished. Children run
// on the parent's thread; the parent's stop token is forwarded to them.
#pragma once

#include <couring/stop_token.hpp>
#include <couring/task.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace couring {

// What co_await of an A produces, with void replaced by std::monostate so it can be stored.
template <class A>
using await_value_t = decltype(std::declval<A>().await_resume());

namespace detail {

template <class A>
auto get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) return std::forward<A>(a).operator co_await();
  else return std::forward<A>(a);
}

// Only awaitables have a `type`: for anything else awaited_t fails in the immediate context, so the
// variadic when_all/when_any step aside for their range overloads (when_all(std::vector<task<T>>)).
template <class A>
struct awaited {};
template <class A>
  requires requires { std::declval<decltype(get_awaiter(std::declval<A>()))&>().await_resume(); }
struct awaited<A> {
  using raw = decltype(std::declval<decltype(get_awaiter(std::declval<A>()))&>().await_resume());
  using type = std::conditional_t<std::is_void_v<raw>, std::monostate, std::remove_cvref_t<raw>>;
};

}  // namespace detail

template <class A>
using awaited_t = typename detail::awaited<A>::type;

namespace detail {

struct join_state {
  static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

  explicit join_state(std::size_t children, bool first_finisher_wins) noexcept
      : remaining(children + 1), first_wins(first_finisher_wins) {}

  // Called as each child ends: the first failure (when_all) or the first finisher (when_any)
  // stops the others.
  void child_done(std::size_t index, bool failed) noexcept {
    if (first_wins) {
      if (winner == none) {
        winner = index;
        stop.request_stop();
      }
    } else if (failed && winner == none) {
      winner = index;
      stop.request_stop();
    }
  }

  std::size_t remaining;  // children still running, plus one held by the parent while it starts them
  bool first_wins;
  std::size_t winner = none;
  std::coroutine_handle<> parent;
  stop_source stop;
};

template <class T>
class join_child {
 public:
  struct promise_type : promise_base {
    join_state* join = nullptr;
    std::size_t index = 0;
    std::optional<T> value;
    std::exception_ptr error;

    join_child get_return_object() noexcept { return join_child(std::coroutine_handle<promise_type>::from_promise(*this)); }
    template <class U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
    void unhandled_exception() noexcept { error = std::current_exception(); }

    struct final_awaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        promise_type& p = h.promise();
        p.join->child_done(p.index, p.error != nullptr);
        // The last child to finish resumes the parent directly; the others just stop here.
        if (--p.join->remaining == 0) return detail::transfer(h, p.join->parent);
        return std::noop_coroutine();
      }
      void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
  };

  explicit join_child(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  join_child(join_child&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  join_child(const join_child&) = delete;
  ~join_child() {
    if (handle_) handle_.destroy();
  }

  void start(join_state& join, std::size_t index) noexcept {
    promise_type& p = handle_.promise();
    p.join = &join;
    p.index = index;
    p.set_token(join.stop.token());
    detail::resume_flat(handle_);
  }
  promise_type& promise() const noexcept { return handle_.promise(); }

 private:
  std::coroutine_handle<promise_type> handle_;
};

// A child that awaits `a` and keeps what it produced. `a` is held by reference: it lives in the
// parent's full expression, which lasts until every child has finished.
template <class A>
join_child<awaited_t<A>> make_join_child(A&& a) {
  if constexpr (std::is_same_v<typename awaited<A>::raw, void>) {
    co_await std::forward<A>(a);
    co_return std::monostate{};
  } else {
    co_return co_await std::forward<A>(a);
  }
}

// Starts the children and suspends the parent until the last one finishes. `start_all(join)`
// starts each child; a child finishing at once only counts down, because the parent still holds
// its own count until every child has been started.
template <class StartAll>
class join_awaitable {
 public:
  join_awaitable(join_state& join, StartAll start_all) noexcept : join_(join), start_all_(std::move(start_all)) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> parent) noexcept {
    join_.parent = parent;
    start_all_(join_);
    return --join_.remaining != 0;  // zero: all children already finished, continue at once
  }
  void await_resume() const noexcept {}

 private:
  join_state& join_;
  StartAll start_all_;
};

// Forwards a stop of the parent's token to the children's source.
struct forward_stop {
  stop_source* target;
  void operator()() const noexcept { target->request_stop(); }
};

}  // namespace detail
}  // namespace couring
