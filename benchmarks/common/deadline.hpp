// Every run is bounded by wall-clock time, not by an op count, so that a system 50x slower than
// another still finishes in the same budget. Reading the clock costs about a third of an io_uring
// NOP, so it is read once per `stride` ops; the overshoot (< stride + in-flight ops) is counted
// like any other op, because the elapsed time is measured after the last one completes.
#pragma once

#include <chrono>
#include <cstdint>

namespace bench {

using steady = std::chrono::steady_clock;

inline double seconds_since(steady::time_point start) noexcept {
  return std::chrono::duration<double>(steady::now() - start).count();
}

class deadline {
 public:
  explicit deadline(double seconds, std::uint32_t stride = 64) noexcept
      : end_(steady::now() + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds))),
        stride_(stride) {}

  // Called once per finished op (or once per batch of `stride` ops with count = stride). Once
  // it has said "expired" it keeps saying so, so every worker sharing it stops.
  bool expired_after(std::uint32_t count = 1) noexcept {
    since_check_ += count;
    if (since_check_ < stride_ || expired_) return expired_;
    since_check_ = 0;
    expired_ = steady::now() >= end_;
    return expired_;
  }

  bool expired() const noexcept { return expired_; }

 private:
  steady::time_point end_;
  std::uint32_t stride_;
  std::uint32_t since_check_ = 0;
  bool expired_ = false;
};

}  // namespace bench
