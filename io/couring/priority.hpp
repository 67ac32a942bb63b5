// io_priority: the seed documents' "I/O priorities". The value is Linux's ioprio encoding, so the
// io_uring backend puts it in the SQE as is, and the thread-pool backend dequeues higher classes
// first (real-time, then best-effort, then idle; lower level first within a class).
#pragma once

#include <cstdint>

namespace couring {

class io_priority {
 public:
  // Level 0 is the most urgent within a class; levels run 0..7.
  static constexpr io_priority realtime(unsigned level = 4) noexcept { return io_priority(1, level); }
  static constexpr io_priority best_effort(unsigned level = 4) noexcept { return io_priority(2, level); }
  static constexpr io_priority idle() noexcept { return io_priority(3, 7); }

  constexpr std::uint16_t value() const noexcept { return value_; }
  constexpr unsigned io_class() const noexcept { return value_ >> 13; }
  constexpr unsigned level() const noexcept { return value_ & 7u; }

 private:
  constexpr io_priority(unsigned cls, unsigned level) noexcept
      : value_(static_cast<std::uint16_t>((cls << 13) | (level > 7 ? 7 : level))) {}
  std::uint16_t value_;
};

}  // namespace couring
