// task_group: a nursery. Children spawned into it run concurrently on the current thread and
// observe the group's stop token; the scope's end awaits them all.
//
//   co_await with_task_group([&](task_group& g) -> task<void> {
//     g.spawn(serve(conn1));
//     g.spawn(serve(conn2));
//     co_return;
//   });  // returns when both are done
//
// The first child to throw cancels the others; after all have finished, join() rethrows that
// first exception. The exceptions of the other children (usually consequences of the
// cancellation) are kept, not lost: other_failures() lists them after join().
//
// If a task_group is destroyed without join() (its scope left by an exception), its children are
// cancelled and left to finish on their own; a failure among them then goes to the runtime's
// unhandled-exception handler. with_task_group() always joins.
#pragma once

#include <couring/assert.hpp>
#include <couring/current_token.hpp>
#include <couring/resume_item.hpp>
#include <couring/scheduler.hpp>
#include <couring/spawn.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

namespace couring {

namespace detail {

// Shared by the group and its children, so that either may go first.
struct group_state {
  unsigned refs = 1;
  std::size_t running = 0;
  bool detached = false;  // the group object is gone: failures go to the scheduler's handler
  stop_source stop;
  std::exception_ptr first_failure;
  std::vector<std::exception_ptr> other_failures;
  resume_item joiner;  // posted when the last child finishes while join() waits
  bool joining = false;

  void add_ref() noexcept { ++refs; }
  void release() noexcept {
    if (--refs == 0) delete this;
  }
};

}  // namespace detail

class task_group {
 public:
  // `parent`: the token whose stop cancels the whole group (e.g. co_await current_stop_token()).
  explicit task_group(stop_token parent = {}) : state_(new detail::group_state) {
    link_.emplace(parent, forward{state_});
  }
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;
  ~task_group() {
    link_.reset();
    if (state_->running > 0) {
      state_->detached = true;
      state_->stop.request_stop();
    }
    state_->release();
  }

  // Starts `t`: it is queued to run on this thread and observes the group's token.
  template <class T>
  void spawn(task<T> t) {
    ++state_->running;
    state_->add_ref();
    run_child(state_, std::move(t).with_token(state_->stop.token())).start();
  }

  // Cancels every child (they see operation_canceled at their next or current op).
  void cancel() noexcept { state_->stop.request_stop(); }
  stop_token token() const noexcept { return state_->stop.token(); }
  std::size_t running() const noexcept { return state_->running; }

  class [[nodiscard]] join_awaitable {
   public:
    explicit join_awaitable(detail::group_state& s) noexcept : state_(s) {}
    bool await_ready() const noexcept { return state_.running == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      state_.joiner.handle = h;
      state_.joining = true;
    }
    void await_resume() {
      state_.joining = false;
      if (state_.first_failure) std::rethrow_exception(std::exchange(state_.first_failure, nullptr));
    }

   private:
    detail::group_state& state_;
  };
  // Waits for every child; rethrows the first failure.
  join_awaitable join() noexcept { return join_awaitable(*state_); }

  const std::vector<std::exception_ptr>& other_failures() const noexcept { return state_->other_failures; }

 private:
  struct forward {
    detail::group_state* state;
    void operator()() const noexcept { state->stop.request_stop(); }
  };

  // Keeps the child's share of the group state; also right when shutdown destroys a child that
  // can never finish (then nobody is waiting to be resumed).
  struct child_share {
    detail::group_state* state;
    bool finished = false;
    ~child_share() {
      --state->running;
      if (finished && state->running == 0 && state->joining) scheduler::current()->post(state->joiner);
      state->release();
    }
  };

  template <class T>
  static detail::detached_task run_child(detail::group_state* s, task<T> t) {
    child_share share{s};
    std::exception_ptr failure;
    try {
      (void)co_await std::move(t);
    } catch (...) {
      failure = std::current_exception();
    }
    share.finished = true;
    if (!failure) co_return;
    if (s->detached) std::rethrow_exception(failure);  // to the runtime's unhandled-exception handler
    if (!s->first_failure) {
      s->first_failure = failure;
      s->stop.request_stop();
    } else {
      s->other_failures.push_back(failure);
    }
  }

  detail::group_state* state_;
  std::optional<stop_callback<forward>> link_;
};

// Runs `body(group)` and then joins the group, also when body throws (then the children are
// cancelled first, and body's exception wins over theirs).
template <class Body>
task<void> with_task_group(Body body) {
  task_group group(co_await current_stop_token());
  std::exception_ptr body_failure;
  try {
    co_await body(group);
  } catch (...) {
    body_failure = std::current_exception();
    group.cancel();
  }
  std::exception_ptr children_failure;
  try {
    co_await group.join();
  } catch (...) {
    children_failure = std::current_exception();
  }
  if (body_failure) std::rethrow_exception(body_failure);
  if (children_failure) std::rethrow_exception(children_failure);
}

}  // namespace couring
