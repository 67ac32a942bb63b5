// Work on another shard. Shards share nothing: to use another shard's state you send it work and
// await the answer.
//
//   int n = co_await on_shard(1, [] { return count_local_things(); });     // fn runs on shard 1
//   auto r = co_await on_shard(1, [] { return fetch_from_cache(key); });   // fn may return a task
//   co_await submit_to(1, some_task());                                     // a task, run on shard 1
//   spawn_on(1, serve(std::move(conn)));                                    // fire and forget
//
// The result (a value or an exception) comes back to the caller's shard, where the caller resumes.
// Cancelling the caller (its stop token) cancels the remote work. If the runtime shuts down while
// the remote work is pending, the caller gets std::system_error(operation_canceled).
#pragma once

#include <couring/assert.hpp>
#include <couring/scheduler.hpp>
#include <couring/spawn.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace couring {

inline unsigned this_shard() noexcept {
  scheduler* s = scheduler::current();
  return s ? s->shard_index() : 0;
}
inline unsigned shard_count() noexcept {
  scheduler* s = scheduler::current();
  return s ? s->shard_count() : 1;
}

namespace detail {

template <class F>
using invoke_value_t = std::invoke_result_t<F&>;

template <class R>
struct unwrap_task {
  using type = R;
};
template <class T>
struct unwrap_task<task<T>> {
  using type = T;
};

// What the caller gets back: fn's value, or the value of the task fn returned.
template <class F>
using on_shard_result_t = typename unwrap_task<invoke_value_t<F>>::type;

// The state of one cross-shard call, shared by the caller's and the callee's threads. Its work
// items travel between them; each one in flight holds a reference, so whichever side finishes
// last frees it, and neither side ever touches the other's coroutine frames.
template <class T, class F>
struct remote_call {
  struct item : work_item {
    item(remote_call* c, run_fn fn) noexcept : work_item(fn), call(c) {}
    remote_call* call;
  };

  remote_call(F f, scheduler& caller_shard, scheduler& callee_shard)
      : fn(std::move(f)), caller(&caller_shard), callee(&callee_shard) {}

  void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    // acq_rel: the last releaser sees every write the others made before releasing.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // --- callee side -----------------------------------------------------------------------------
  static void on_start(work_item& w) noexcept {
    remote_call* c = static_cast<item&>(w).call;
    if (c->callee->stopping()) {  // shutting down: no new user code runs here
      c->broken = true;
      c->caller->post_remote(c->reply_item);
      return;
    }
    spawn(run(c));  // holds the callee's reference until it replies
  }
  static void on_cancel(work_item& w) noexcept {
    remote_call* c = static_cast<item&>(w).call;
    c->stop.request_stop();
    c->release();
  }
  // Replies exactly once: when the work finishes, or when shutdown destroys it unfinished.
  struct reply_guard {
    remote_call* call;
    ~reply_guard() {
      if (!call->finished) call->broken = true;
      call->caller->post_remote(call->reply_item);  // the callee's reference travels with it
    }
  };
  static task<void> run(remote_call* c) {
    reply_guard guard{c};
    try {
      if constexpr (std::is_void_v<T>) {
        if constexpr (std::is_void_v<invoke_value_t<F>>) c->fn();
        else co_await c->fn().with_token(c->stop.token());
      } else {
        if constexpr (std::is_same_v<invoke_value_t<F>, T>) c->value.emplace(c->fn());
        else c->value.emplace(co_await c->fn().with_token(c->stop.token()));
      }
    } catch (...) {
      c->error = std::current_exception();
    }
    c->finished = true;
  }

  // --- caller side -----------------------------------------------------------------------------
  static void on_reply(work_item& w) noexcept {
    remote_call* c = static_cast<item&>(w).call;
    c->replied = true;
    // During shutdown a "the target shut down" answer does not resume the caller: like an op
    // awaited during shutdown, it stays suspended and is destroyed with the other frames.
    bool frozen = c->broken && c->caller->stopping();
    if (!c->caller_gone && !frozen) detail::resume_flat(c->waiter);
    c->release();
  }

  F fn;
  scheduler* caller;
  scheduler* callee;
  std::atomic<int> refs{2};  // the caller's awaitable and the callee's work
  item start_item{this, &remote_call::on_start};
  item reply_item{this, &remote_call::on_reply};
  item cancel_item{this, &remote_call::on_cancel};
  // Written by the callee before it posts the reply; read by the caller after it runs it (the
  // remote queue's release/acquire orders them).
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
  std::exception_ptr error;
  bool finished = false;
  bool broken = false;
  stop_source stop;  // callee thread only
  // Caller thread only.
  std::coroutine_handle<> waiter;
  bool caller_gone = false;
  bool replied = false;
  bool cancel_sent = false;
};

template <class T, class F>
class [[nodiscard]] on_shard_awaitable {
  using call_type = remote_call<T, F>;

 public:
  on_shard_awaitable(unsigned shard, F fn) : shard_(shard), fn_(std::move(fn)) {}
  on_shard_awaitable(on_shard_awaitable&& o) noexcept
      : shard_(o.shard_), fn_(std::move(o.fn_)), call_(std::exchange(o.call_, nullptr)) {}
  on_shard_awaitable& operator=(on_shard_awaitable&&) = delete;
  ~on_shard_awaitable() {
    if (!call_) return;
    if (!call_->replied) call_->caller_gone = true;  // destroyed while waiting (shutdown)
    call_->release();
  }

  bool await_ready() const noexcept { return false; }

  template <class Promise>
  void await_suspend(std::coroutine_handle<Promise> h) {
    scheduler* here = scheduler::current();
    COURING_ASSERT(here != nullptr, "on_shard() outside a couring runtime thread");
    scheduler* there = here->shard(shard_);
    if (!there) throw std::out_of_range("on_shard: no such shard");
    call_ = new call_type(std::move(fn_), *here, *there);
    call_->waiter = h;
    if (here->stopping()) {
      // Shutdown: nothing new is started anywhere; this coroutine stays suspended until it is
      // destroyed, like an op awaited now.
      call_->replied = true;
      call_->release();  // the callee's reference: no callee will ever see this call
      return;
    }
    if (const stop_token* t = token_of(h); t && t->stop_possible()) cancel_hook_.emplace(*t, forward_cancel{call_});
    there->post_remote(call_->start_item);
  }

  T await_resume() {
    cancel_hook_.reset();
    if (call_->broken)
      throw std::system_error(std::make_error_code(std::errc::operation_canceled), "the target shard shut down");
    if (call_->error) std::rethrow_exception(call_->error);
    if constexpr (!std::is_void_v<T>) return std::move(*call_->value);
  }

 private:
  struct forward_cancel {
    call_type* call;
    void operator()() const noexcept {
      // A stopping caller's shard cancels nothing remotely: every shard is cancelling its own.
      if (call->cancel_sent || call->replied || call->caller->stopping()) return;
      call->cancel_sent = true;
      call->add_ref();  // for the cancel item in flight
      call->callee->post_remote(call->cancel_item);
    }
  };

  unsigned shard_;
  F fn_;
  call_type* call_ = nullptr;
  std::optional<stop_callback<forward_cancel>> cancel_hook_;
};

template <class T>
struct task_holder {
  task<T> t;
  task<T> operator()() { return std::move(t); }
};

}  // namespace detail

// Runs fn() on shard `shard` (fn may return a value, void, or a task) and yields its result on
// the caller's shard. std::out_of_range for a shard that does not exist.
template <class F>
auto on_shard(unsigned shard, F fn) {
  return detail::on_shard_awaitable<detail::on_shard_result_t<F>, F>(shard, std::move(fn));
}

// Runs an existing task on shard `shard` and yields its result on the caller's shard.
template <class T>
auto submit_to(unsigned shard, task<T> t) {
  return on_shard(shard, detail::task_holder<T>{std::move(t)});
}

// Starts a detached task on shard `shard` (its exceptions go to that shard's handler).
template <class T>
void spawn_on(unsigned shard, task<T> t) {
  struct starter : work_item {
    explicit starter(task<T> tk) : work_item(&starter::run), t(std::move(tk)) {}
    static void run(work_item& w) noexcept {
      auto* self = static_cast<starter*>(&w);
      spawn(std::move(self->t));
      delete self;
    }
    task<T> t;
  };
  scheduler* here = scheduler::current();
  COURING_ASSERT(here != nullptr, "spawn_on() outside a couring runtime thread");
  scheduler* there = here->shard(shard);
  if (!there) throw std::out_of_range("spawn_on: no such shard");
  if (here->stopping()) return;  // shutdown: the task is dropped unstarted
  if (there == here) {
    spawn(std::move(t));
    return;
  }
  there->post_remote(*new starter(std::move(t)));
}

}  // namespace couring
