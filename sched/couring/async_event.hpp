// async_event: a flag coroutines wait on, on one shard or across shards, without blocking a
// thread.
//
//   async_event ready;                               // manual reset: stays set until reset()
//   auto r = co_await ready.wait();                  // result<void>; operation_canceled if cancelled
//   ready.set();                                     // from any thread
//
//   async_event item(async_event::reset_mode::automatic);  // each set() lets exactly one waiter through
//
// Manual reset: set() releases every waiter and lets later waits through until reset().
// Automatic reset: set() releases the longest waiter and stays unset; with nobody waiting it stays
// set until one wait() consumes it (sets do not accumulate: it is a flag, not a counter). A
// release whose waiter was cancelled or destroyed at the same moment passes to the next waiter.
// Waiters resume on their own shards. The event must outlive its waiters.
#pragma once

#include <couring/result.hpp>
#include <couring/detail/wait_queue.hpp>

#include <mutex>
#include <system_error>

namespace couring {

class async_event;

namespace detail {

class [[nodiscard]] event_wait_awaitable : public wait_awaitable<event_wait_awaitable, async_event, wait_node> {
  using base = wait_awaitable<event_wait_awaitable, async_event, wait_node>;
  friend base;

 public:
  using base::base;

  result<void> await_resume() noexcept {
    if (finish() != wait_status::granted) return std::errc::operation_canceled;
    return {};
  }

 private:
  static std::mutex& lock_of(async_event& e) noexcept;
  static wait_list& queue_of(async_event& e) noexcept;
  wait_status try_now(wake_batch&) noexcept;
  static void give_back(async_event& e, wait_node&) noexcept;
};

}  // namespace detail

class async_event {
 public:
  enum class reset_mode { manual, automatic };

  explicit async_event(reset_mode mode = reset_mode::manual, bool initially_set = false) noexcept
      : mode_(mode), set_(initially_set) {}
  async_event(const async_event&) = delete;
  async_event& operator=(const async_event&) = delete;
  ~async_event() { COURING_ASSERT(waiters_.empty(), "an async_event was destroyed while coroutines waited on it"); }

  // co_await: result<void> once the event is set (and, with automatic reset, consumed by this wait).
  detail::event_wait_awaitable wait() noexcept { return detail::event_wait_awaitable(*this); }

  // Any thread.
  void set() noexcept {
    detail::wake_batch woken;
    std::lock_guard lock(mutex_);
    if (mode_ == reset_mode::manual) {
      set_ = true;
      while (detail::wait_node* w = waiters_.pop_front()) woken.add(*w, detail::wait_status::granted);
    } else if (detail::wait_node* w = waiters_.pop_front()) {
      woken.add(*w, detail::wait_status::granted);  // consumed by this waiter: stays unset
    } else {
      set_ = true;
    }
  }

  // Any thread. Later waits suspend until the next set().
  void reset() noexcept {
    std::lock_guard lock(mutex_);
    set_ = false;
  }

  // A snapshot.
  bool is_set() const noexcept {
    std::lock_guard lock(mutex_);
    return set_;
  }

  reset_mode mode() const noexcept { return mode_; }

 private:
  friend class detail::event_wait_awaitable;

  mutable std::mutex mutex_;  // guards the two below; held only for a few instructions
  const reset_mode mode_;
  bool set_;                  // never true while anyone waits
  detail::wait_list waiters_;
};

namespace detail {

inline std::mutex& event_wait_awaitable::lock_of(async_event& e) noexcept { return e.mutex_; }
inline wait_list& event_wait_awaitable::queue_of(async_event& e) noexcept { return e.waiters_; }
inline wait_status event_wait_awaitable::try_now(wake_batch&) noexcept {
  async_event& e = owner();
  if (!e.set_) return wait_status::waiting;
  if (e.mode_ == async_event::reset_mode::automatic) e.set_ = false;
  return wait_status::granted;
}
// An automatic-reset release went to a frame that died before it resumed: pass it on.
inline void event_wait_awaitable::give_back(async_event& e, wait_node&) noexcept {
  if (e.mode_ == async_event::reset_mode::automatic) e.set();
}

}  // namespace detail

}  // namespace couring
