// stat_counter: a statistic with one writer (its shard's thread) that any thread may read. The
// increment is a plain load and store (no locked instruction on the hot path); the value is
// atomic only so that readers on other threads see whole values.
#pragma once

#include <atomic>
#include <cstdint>

namespace couring {

class stat_counter {
 public:
  void add(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace couring
