// A latency histogram with bounded memory and bounded error, so a long run does not keep every
// sample: values are bucketed by their power of two, each power split into 64 linear steps, which
// keeps any reported percentile within 1/64 (1.6%) of the true value.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace samples {

class histogram {
 public:
  void record(std::uint64_t value) noexcept {
    ++counts_[index_of(value)];
    ++total_;
    if (value > max_) max_ = value;
  }
  void merge(const histogram& o) noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }

  // The smallest recorded value v such that a fraction q of the samples is <= v (q in [0, 1]),
  // reported as the top of its bucket; 0 when empty.
  std::uint64_t percentile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    if (rank < 1) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return upper_bound_of(i) < max_ ? upper_bound_of(i) : max_;
    }
    return max_;
  }

 private:
  static constexpr unsigned sub_bits = 6;  // 64 steps per power of two
  static constexpr std::uint64_t sub = 1u << sub_bits;

  // Values below 64 get a bucket each; above, bucket = (power, top 6 bits below the leading one).
  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < sub) return static_cast<std::size_t>(v);
    unsigned power = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= sub_bits
    std::uint64_t step = (v >> (power - sub_bits)) - sub;               // 0..63
    return static_cast<std::size_t>(sub + (power - sub_bits) * sub + step);
  }
  static std::uint64_t upper_bound_of(std::size_t i) noexcept {
    if (i < sub) return i;
    std::size_t k = i - sub;
    unsigned power = static_cast<unsigned>(k / sub) + sub_bits;
    std::uint64_t step = k % sub;
    return ((sub + step + 1) << (power - sub_bits)) - 1;
  }

  std::array<std::uint64_t, sub + (64 - sub_bits) * sub> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace samples
