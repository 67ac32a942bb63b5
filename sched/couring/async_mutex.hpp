// async_mutex: mutual exclusion between coroutines, on one shard or across shards, that suspends
// the waiting coroutine instead of blocking its thread.
//
//   auto g = co_await m.scoped_lock();     // result<async_mutex_guard>; unlocks when g goes
//   if (!g) co_return g.error();           // operation_canceled: the task was cancelled first
//
//   auto r = co_await m.lock();            // result<void>; then m.unlock() by hand
//
// Fair: unlock() hands the lock straight to the longest waiter (FIFO), and a newcomer never
// overtakes a waiter, so nobody starves however hot the lock. A waiter resumes on its own shard.
// Cancelling the waiting task (its stop token) makes the wait yield operation_canceled without
// the lock; when the hand-off and the cancellation race, exactly one wins: the waiter owns the
// lock, or it was cancelled and the lock went on to the next waiter. A task whose stop was already
// requested gets operation_canceled even if the lock is free (use try_lock() in cleanup code).
//
// The mutex must outlive its waiters. unlock() may be called from any thread.
#pragma once

#include <couring/assert.hpp>
#include <couring/result.hpp>
#include <couring/detail/wait_queue.hpp>

#include <mutex>
#include <system_error>
#include <utility>

namespace couring {

class async_mutex;

// Owns a locked async_mutex and unlocks it when destroyed. Move-only.
class async_mutex_guard {
 public:
  async_mutex_guard() noexcept = default;
  // Takes over a lock the caller holds.
  async_mutex_guard(async_mutex& m, std::adopt_lock_t) noexcept : mutex_(&m) {}
  async_mutex_guard(async_mutex_guard&& o) noexcept : mutex_(std::exchange(o.mutex_, nullptr)) {}
  async_mutex_guard& operator=(async_mutex_guard&& o) noexcept {
    if (this != &o) {
      unlock();
      mutex_ = std::exchange(o.mutex_, nullptr);
    }
    return *this;
  }
  async_mutex_guard(const async_mutex_guard&) = delete;
  async_mutex_guard& operator=(const async_mutex_guard&) = delete;
  ~async_mutex_guard() { unlock(); }

  bool owns_lock() const noexcept { return mutex_ != nullptr; }
  async_mutex* mutex() const noexcept { return mutex_; }
  // Unlocks early; a no-op if it owns nothing.
  inline void unlock() noexcept;

 private:
  async_mutex* mutex_ = nullptr;
};

namespace detail {

template <bool Scoped>
class [[nodiscard]] mutex_lock_awaitable
    : public wait_awaitable<mutex_lock_awaitable<Scoped>, async_mutex, wait_node> {
  using base = wait_awaitable<mutex_lock_awaitable<Scoped>, async_mutex, wait_node>;
  friend base;

 public:
  using base::base;

  auto await_resume() noexcept {
    bool owned = this->finish() == wait_status::granted;
    if constexpr (Scoped) {
      if (!owned) return result<async_mutex_guard>(std::errc::operation_canceled);
      return result<async_mutex_guard>(async_mutex_guard(this->owner(), std::adopt_lock));
    } else {
      if (!owned) return result<void>(std::errc::operation_canceled);
      return result<void>();
    }
  }

 private:
  static std::mutex& lock_of(async_mutex& m) noexcept;
  static wait_list& queue_of(async_mutex& m) noexcept;
  wait_status try_now(wake_batch&) noexcept;
  static void give_back(async_mutex& m, wait_node&) noexcept;
};

}  // namespace detail

class async_mutex {
 public:
  using lock_awaitable = detail::mutex_lock_awaitable<false>;
  using scoped_lock_awaitable = detail::mutex_lock_awaitable<true>;

  async_mutex() noexcept = default;
  async_mutex(const async_mutex&) = delete;
  async_mutex& operator=(const async_mutex&) = delete;
  ~async_mutex() { COURING_ASSERT(waiters_.empty(), "an async_mutex was destroyed while coroutines waited on it"); }

  // co_await: result<void>; the caller unlocks.
  lock_awaitable lock() noexcept { return lock_awaitable(*this); }
  // co_await: result<async_mutex_guard>, which unlocks.
  scoped_lock_awaitable scoped_lock() noexcept { return scoped_lock_awaitable(*this); }

  // Takes the lock only if it is free and nobody waits for it.
  bool try_lock() noexcept {
    std::lock_guard lock(mutex_);
    if (locked_) return false;
    locked_ = true;
    return true;
  }

  // Any thread. Hands the lock to the longest waiter, or frees it.
  void unlock() noexcept {
    detail::wake_batch woken;
    std::lock_guard lock(mutex_);
    COURING_ASSERT(locked_, "unlock() of an async_mutex that is not locked");
    if (detail::wait_node* n = waiters_.pop_front()) woken.add(*n, detail::wait_status::granted);  // stays locked
    else locked_ = false;
  }

  // A snapshot, for tests and statistics.
  bool is_locked() const noexcept {
    std::lock_guard lock(mutex_);
    return locked_;
  }

 private:
  template <bool>
  friend class detail::mutex_lock_awaitable;

  mutable std::mutex mutex_;  // guards the two below; held only for a few instructions
  bool locked_ = false;       // while anyone waits, it stays true: unlock() hands it over
  detail::wait_list waiters_;
};

inline void async_mutex_guard::unlock() noexcept {
  if (mutex_) std::exchange(mutex_, nullptr)->unlock();
}

namespace detail {

template <bool Scoped>
std::mutex& mutex_lock_awaitable<Scoped>::lock_of(async_mutex& m) noexcept {
  return m.mutex_;
}
template <bool Scoped>
wait_list& mutex_lock_awaitable<Scoped>::queue_of(async_mutex& m) noexcept {
  return m.waiters_;
}
template <bool Scoped>
wait_status mutex_lock_awaitable<Scoped>::try_now(wake_batch&) noexcept {
  async_mutex& m = this->owner();
  if (m.locked_) return wait_status::waiting;  // held, or handed on to a waiter: queue up behind
  m.locked_ = true;
  return wait_status::granted;
}
// The lock was handed to a frame that died before it resumed: pass it on.
template <bool Scoped>
void mutex_lock_awaitable<Scoped>::give_back(async_mutex& m, wait_node&) noexcept {
  m.unlock();
}

}  // namespace detail

}  // namespace couring
