// event_source: what a scheduler's loop waits on between turns. sched/ defines this narrow
// interface; the I/O layer's backends implement it (io/backend/backend.hpp), so the scheduler
// drives them without knowing what they are. One wait covers completions, readiness, wakeups and
// the scheduler's next timer: the seed documents' combined wait.
#pragma once

#include <cstddef>
#include <cstdint>

namespace couring {

class event_source {
 public:
  // Owner thread: hands every event that has arrived to the scheduler (by posting its work).
  // With `block`, first sleeps until one arrives, wake() is called, or `deadline_ns`
  // (CLOCK_MONOTONIC; -1: none) passes.
  virtual void wait(bool block, std::int64_t deadline_ns) noexcept = 0;

  // Any thread: makes a blocked wait() return.
  virtual void wake() noexcept = 0;

  // Owner thread: wakes another scheduler's source through this one, where this source has a
  // cheaper way than target.wake() (io_uring: a MSG_RING batched into the next enter). False
  // when it has none; the caller then uses target.wake().
  virtual bool wake_other(event_source& target) noexcept {
    (void)target;
    return false;
  }

  // Work started that will still post to the scheduler (ops in flight): drain() waits for it.
  virtual std::size_t pending() const noexcept = 0;

 protected:
  ~event_source() = default;
};

}  // namespace couring
