// async_semaphore: a counting semaphore for coroutines, on one shard or across shards, that
// suspends the waiting coroutine instead of blocking its thread. Bounds concurrency:
//
//   async_semaphore slots(8);
//   auto r = co_await slots.acquire();    // result<void>
//   if (!r) co_return r.error();          // operation_canceled
//   ... co_await work(); slots.release();
//
// FIFO: release() hands permits straight to the longest waiters, and acquire() never takes a
// permit while others wait, so no waiter starves. A waiter resumes on its own shard. Cancelling a
// waiting task yields operation_canceled and takes no permit; a permit whose waiter was cancelled
// (or whose frame was destroyed) at the same moment goes to the next waiter, never lost.
//
// The semaphore must outlive its waiters. release() may be called from any thread.
#pragma once

#include <couring/result.hpp>
#include <couring/detail/wait_queue.hpp>

#include <cstddef>
#include <mutex>
#include <system_error>

namespace couring {

class async_semaphore;

namespace detail {

class [[nodiscard]] semaphore_acquire_awaitable
    : public wait_awaitable<semaphore_acquire_awaitable, async_semaphore, wait_node> {
  using base = wait_awaitable<semaphore_acquire_awaitable, async_semaphore, wait_node>;
  friend base;

 public:
  using base::base;

  result<void> await_resume() noexcept {
    if (finish() != wait_status::granted) return std::errc::operation_canceled;
    return {};
  }

 private:
  static std::mutex& lock_of(async_semaphore& s) noexcept;
  static wait_list& queue_of(async_semaphore& s) noexcept;
  wait_status try_now(wake_batch&) noexcept;
  static void give_back(async_semaphore& s, wait_node&) noexcept;
};

}  // namespace detail

class async_semaphore {
 public:
  using acquire_awaitable = detail::semaphore_acquire_awaitable;

  explicit async_semaphore(std::size_t initial_permits) noexcept : permits_(initial_permits) {}
  async_semaphore(const async_semaphore&) = delete;
  async_semaphore& operator=(const async_semaphore&) = delete;
  ~async_semaphore() {
    COURING_ASSERT(waiters_.empty(), "an async_semaphore was destroyed while coroutines waited on it");
  }

  // co_await: result<void>, holding one permit on success.
  acquire_awaitable acquire() noexcept { return acquire_awaitable(*this); }

  // Takes a permit only if one is free (which implies nobody waits).
  bool try_acquire() noexcept {
    std::lock_guard lock(mutex_);
    if (permits_ == 0) return false;
    --permits_;
    return true;
  }

  // Any thread. Returns `n` permits: to waiters first, in order, the rest to the pool.
  void release(std::size_t n = 1) noexcept {
    detail::wake_batch woken;
    std::lock_guard lock(mutex_);
    for (; n > 0; --n) {
      detail::wait_node* w = waiters_.pop_front();
      if (!w) break;
      woken.add(*w, detail::wait_status::granted);
    }
    permits_ += n;
  }

  // A snapshot: free permits now.
  std::size_t available() const noexcept {
    std::lock_guard lock(mutex_);
    return permits_;
  }

 private:
  friend class detail::semaphore_acquire_awaitable;

  mutable std::mutex mutex_;  // guards the two below; held only for a few instructions
  std::size_t permits_;       // non-zero only while nobody waits
  detail::wait_list waiters_;
};

namespace detail {

inline std::mutex& semaphore_acquire_awaitable::lock_of(async_semaphore& s) noexcept { return s.mutex_; }
inline wait_list& semaphore_acquire_awaitable::queue_of(async_semaphore& s) noexcept { return s.waiters_; }
inline wait_status semaphore_acquire_awaitable::try_now(wake_batch&) noexcept {
  async_semaphore& s = owner();
  if (s.permits_ == 0) return wait_status::waiting;
  --s.permits_;
  return wait_status::granted;
}
// The permit was handed to a frame that died before it resumed: pass it on.
inline void semaphore_acquire_awaitable::give_back(async_semaphore& s, wait_node&) noexcept { s.release(1); }

}  // namespace detail

}  // namespace couring
