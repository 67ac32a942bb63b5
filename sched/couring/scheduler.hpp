// scheduler: one per thread that runs couring code (one per shard). It owns the ready queue and
// is the only place that resumes coroutines: backends hand it completed ops, other threads hand it
// work through its remote queue, and run_until() resumes them on the owner thread.
#pragma once

#include <couring/assert.hpp>
#include <couring/remote_queue.hpp>
#include <couring/stat_counter.hpp>
#include <couring/timer.hpp>
#include <couring/work_item.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <utility>
#include <vector>

namespace couring {

class backend;

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

  void attach(backend& io) noexcept { io_ = &io; }
  backend& io() const noexcept { return *io_; }

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

  // Runs the loop until no op is in flight and nothing is ready: used by shutdown after the
  // backend was told to cancel everything.
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

  // Op accounting: shutdown waits for in-flight ops to reach zero before the backend is torn
  // down; completions are also counted per request kind (any thread may read the counts).
  static constexpr std::size_t max_op_kinds = 32;
  // Latency (submission to completion, as the loop sees them) per request kind, in buckets of
  // powers of two of microseconds: bucket b counts latencies below 2^b us (the last, the rest).
  static constexpr std::size_t latency_buckets = 24;
  void op_submitted() noexcept { in_flight_.add(); }
  void op_completed(std::size_t kind, std::int64_t submitted_ns) noexcept {
    in_flight_.sub();
    completed_[kind].add();
    auto us = static_cast<std::uint64_t>(loop_now_ns_ > submitted_ns ? loop_now_ns_ - submitted_ns : 0) >> 10;
    std::size_t bucket = 0;
    while (us != 0 && bucket + 1 < latency_buckets) {
      us >>= 1;
      ++bucket;
    }
    latency_[kind][bucket].add();
  }
  std::uint64_t ops_latency(std::size_t kind, std::size_t bucket) const noexcept { return latency_[kind][bucket].get(); }
  // The time this loop iteration started (CLOCK_MONOTONIC ns): one clock read per iteration
  // stamps every op submitted or completed in it.
  std::int64_t loop_now_ns() const noexcept { return loop_now_ns_; }
  std::size_t ops_in_flight() const noexcept { return static_cast<std::size_t>(in_flight_.get()); }
  std::uint64_t ops_completed(std::size_t kind) const noexcept { return completed_[kind].get(); }

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
  std::uint64_t iterations() const noexcept { return iterations_.get(); }
  std::uint64_t remote_wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }

 private:
  friend class scheduler_scope;
  void run_ready() noexcept;
  void wait_for_events();

  work_queue ready_;
  remote_queue remote_;
  timer_queue timers_;
  // True while the owner is about to block or blocked in the backend; producers that see it
  // wake the owner. seq_cst pairs with remote_queue::push (a Dekker-style handshake).
  std::atomic<bool> sleeping_{false};
  std::atomic<std::uint64_t> wakeups_{0};
  std::atomic<unsigned> posters_{0};  // threads inside post_remote()
  backend* io_ = nullptr;
  stat_counter in_flight_;
  std::array<stat_counter, max_op_kinds> completed_;
  std::array<std::array<stat_counter, latency_buckets>, max_op_kinds> latency_;
  std::int64_t loop_now_ns_ = 0;
  detail::detached_node* detached_ = nullptr;
  std::size_t detached_count_ = 0;
  unhandled_exception_handler on_unhandled_;
  std::exception_ptr fatal_;
  stat_counter iterations_;
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
