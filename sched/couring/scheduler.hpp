// scheduler: one per thread that runs couring code (one per shard). It owns the ready queue and
// is the only place that resumes coroutines: its event source (the shard's I/O backend) hands it
// completed ops, other threads hand it work through its remote queue, and run_until() resumes
// them on the owner thread.
#pragma once

#include <couring/assert.hpp>
#include <couring/timer.hpp>
#include <couring/work_item.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <utility>
#include <vector>

namespace couring {

class event_source;

// Receives exceptions that escape detached tasks. It runs on the scheduler's thread; if it throws,
// the exception ends run() (that is what the default handler does after logging).
using unhandled_exception_handler = std::function<void(std::exception_ptr)>;

namespace detail {
// A detached task's bookkeeping node, so that shutdown can find tasks still suspended.
struct detached_node {
  detached_node* prev = nullptr;
  detached_node* next = nullptr;
  void (*destroy)(detached_node&) noexcept = nullptr;
};
}  // namespace detail

class scheduler {
 public:
  scheduler() noexcept;
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // The scheduler whose loop runs on this thread, or nullptr outside couring threads.
  static scheduler* current() noexcept;

  // What the loop waits on between turns (sched/event_source.hpp). Set once, before running.
  void attach(event_source& events) noexcept { events_ = &events; }

  // Owner thread only: queues work to run in this loop iteration or the next. Inline: every
  // completed op passes through here.
  void post(work_item& w) noexcept {
    COURING_ASSERT(on_owner_thread(), "post() from a thread that does not own the scheduler; use post_remote()");
    ready_.push(w);
  }
  // Any thread: queues work and wakes the owner if it sleeps.
  void post_remote(work_item& w) noexcept;
  // Owner, before the scheduler or its backend is destroyed: waits until no other thread is still
  // inside post_remote(). A poster reads the sleeping flag and wakes the backend *after* its item
  // became visible, so the owner may already have run that item (say, "exit") and be tearing down.
  void wait_for_posters() const noexcept;

  // Runs the loop on the calling thread until `done` becomes true, stop_loop() is called, or (with
  // stop_on_fatal) a detached task's exception reaches the default handler. The calling thread
  // must be the one this scheduler is current on.
  void run_until(const bool& done, bool stop_on_fatal = true);

  // Runs the loop until the event source has nothing pending and nothing is ready: used by
  // shutdown after the backend was told to cancel everything.
  void drain();
  // Runs what is ready and what other threads have posted, without waiting, until neither is left.
  void run_pending();

  bool on_owner_thread() const noexcept { return current() == this; }

  // Makes run_until() return after the current iteration (owner thread).
  void stop_loop() noexcept { loop_stop_ = true; }

  // Shutdown mode: ops awaited from now on are not submitted; their coroutines stay suspended
  // until shutdown destroys them, so no task can keep the runtime alive by retrying forever.
  void set_stopping(bool on) noexcept { stopping_ = on; }
  bool stopping() const noexcept { return stopping_; }

  // Timers of this loop (owner thread). A timer's work_item runs from the loop once its deadline
  // has passed; arming may throw std::bad_alloc only when the heap must grow.
  void arm_timer(timer_node& t, std::int64_t deadline_ns) { timers_.arm(t, deadline_ns); }
  void disarm_timer(timer_node& t) noexcept { timers_.disarm(t); }
  std::size_t timers_armed() const noexcept { return timers_.size(); }

  // The time this loop turn started (CLOCK_MONOTONIC ns): one clock read per turn stamps
  // everything that needs "now" at loop precision (op latencies, for one).
  std::int64_t loop_now_ns() const noexcept { return loop_now_ns_; }
  // Work the event source still owes this loop (for an I/O backend: its ops in flight).
  std::size_t ops_in_flight() const noexcept;

  // Detached tasks register while alive; shutdown destroys those that can never finish.
  void add_detached(detail::detached_node& n) noexcept;
  void remove_detached(detail::detached_node& n) noexcept;
  std::size_t detached_count() const noexcept { return detached_count_; }
  void destroy_detached() noexcept;

  void set_unhandled_exception_handler(unhandled_exception_handler h);
  // Called by a detached task whose body threw. Runs the handler; if the handler throws, the
  // exception is kept and run_until() returns so that run() can rethrow it.
  void report_unhandled(std::exception_ptr e) noexcept;
  std::exception_ptr take_fatal() noexcept { return std::exchange(fatal_, nullptr); }
  // Records an exception that must end run_until() (e.g. forwarded from another shard).
  void set_fatal(std::exception_ptr e) noexcept {
    if (!fatal_) fatal_ = std::move(e);
  }

  // Shards: every scheduler of a runtime knows its index and its siblings, so that work can be
  // sent to shard k (on_shard, submit_to, spawn_on).
  void set_shard(unsigned index, const std::vector<scheduler*>* all) noexcept {
    shard_index_ = index;
    shards_ = all;
  }
  unsigned shard_index() const noexcept { return shard_index_; }
  unsigned shard_count() const noexcept { return shards_ ? static_cast<unsigned>(shards_->size()) : 1; }
  // nullptr if `index` is out of range.
  scheduler* shard(unsigned index) const noexcept {
    if (!shards_) return index == 0 ? const_cast<scheduler*>(this) : nullptr;
    return index < shards_->size() ? (*shards_)[index] : nullptr;
  }

  // Loop statistics.
  std::uint64_t iterations() const noexcept { return iterations_.load(std::memory_order_relaxed); }
  std::uint64_t remote_wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }

 private:
  friend class scheduler_scope;
  void run_ready() noexcept;
  void wait_for_events();

  work_queue ready_;
  // Other threads' pushes: a lock-free stack (sched/remote_queue.hpp), drained in one exchange.
  std::atomic<work_item*> remote_{nullptr};
  timer_queue timers_;
  // True while the owner is about to block or blocked in the backend; producers that see it
  // wake the owner. seq_cst pairs with remote_queue::push (a Dekker-style handshake).
  std::atomic<bool> sleeping_{false};
  std::atomic<std::uint64_t> wakeups_{0};
  std::atomic<unsigned> posters_{0};  // threads inside post_remote()
  event_source* events_ = nullptr;
  std::int64_t loop_now_ns_ = 0;
  detail::detached_node* detached_ = nullptr;
  std::size_t detached_count_ = 0;
  unhandled_exception_handler on_unhandled_;
  std::exception_ptr fatal_;
  // One writer (the owner); atomic so that other threads read whole values.
  std::atomic<std::uint64_t> iterations_{0};
  bool loop_stop_ = false;
  bool stopping_ = false;
  unsigned shard_index_ = 0;
  const std::vector<scheduler*>* shards_ = nullptr;
};

// Makes a scheduler the current one of this thread for the scope's lifetime.
class scheduler_scope {
 public:
  explicit scheduler_scope(scheduler& s) noexcept;
  ~scheduler_scope();
  scheduler_scope(const scheduler_scope&) = delete;
  scheduler_scope& operator=(const scheduler_scope&) = delete;

 private:
  scheduler* previous_;
};

}  // namespace couring
