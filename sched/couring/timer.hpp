// Timers of a scheduler's loop: a timer_node runs its work_item once its CLOCK_MONOTONIC deadline
// has passed. The loop's single wait is bounded by the earliest deadline, so timers share the
// "combined wait" with I/O completions, readiness and wakeups. Nodes are embedded in what they
// time (an op, a lock waiter...); the queue is a binary heap that stores pointers and reuses its
// storage, so arming a timer does not allocate in the steady state.
#pragma once

#include <couring/work_item.hpp>

#include <cstdint>
#include <limits>
#include <vector>

namespace couring {

struct timer_node : work_item {
  using work_item::work_item;

  static constexpr std::uint32_t not_armed = std::numeric_limits<std::uint32_t>::max();

  bool armed() const noexcept { return heap_index != not_armed; }

  std::int64_t deadline_ns = 0;  // CLOCK_MONOTONIC
  std::uint32_t heap_index = not_armed;
};

// CLOCK_MONOTONIC now, in nanoseconds: the clock of every deadline (std::chrono::steady_clock).
std::int64_t monotonic_now_ns() noexcept;

class timer_queue {
 public:
  // Arms `t` for `deadline_ns`; std::bad_alloc only if the heap must grow and cannot.
  void arm(timer_node& t, std::int64_t deadline_ns);
  void disarm(timer_node& t) noexcept;

  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  std::int64_t next_deadline() const noexcept { return heap_.front()->deadline_ns; }

  // Disarms and runs every timer whose deadline is <= now, earliest first. A timer may arm or
  // disarm others while it runs.
  void run_expired(std::int64_t now) noexcept;

 private:
  void place(std::size_t i, timer_node* t) noexcept;
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;

  std::vector<timer_node*> heap_;
};

}  // namespace couring
