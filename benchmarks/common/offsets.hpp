// The random 4 KiB reads of the file benchmark: offset i depends only on the seed and on i, so
// every system, whatever its concurrency, reads the same blocks in the same issue order.
#pragma once

#include <cstdint>

namespace bench {

inline constexpr std::uint32_t block_size = 4096;

// The warm-up phase draws from a distant part of the sequence, so the measured phase starts at
// index 0 for everyone.
inline constexpr std::uint64_t warmup_base = std::uint64_t{1} << 40;

class offset_sequence {
 public:
  explicit offset_sequence(std::uint64_t file_size, std::uint64_t seed = 0x5eed'c0de'2024ULL) noexcept
      : blocks_(file_size / block_size ? file_size / block_size : 1), seed_(seed) {}

  std::int64_t at(std::uint64_t i) const noexcept {
    return static_cast<std::int64_t>((mix(seed_ + i) % blocks_) * block_size);
  }

 private:
  // splitmix64's finalizer: consecutive inputs give independent-looking outputs.
  static std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  std::uint64_t blocks_;
  std::uint64_t seed_;
};

}  // namespace bench
