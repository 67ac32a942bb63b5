// What a program may learn about the backends: which kind runs, and what each shard counted.
#pragma once

#include <couring/request.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace couring {

enum class backend_kind : std::uint8_t { io_uring, thread_pool };

// Which backend a program asks for: automatic takes io_uring where it works, the thread pool
// where it does not (saying why).
enum class backend_choice { automatic, io_uring, thread_pool };

const char* backend_name(backend_kind k) noexcept;

// Latency histograms: bucket b counts ops that took less than 2^b microseconds (the last, the rest).
inline constexpr std::size_t latency_buckets = 24;

// A snapshot of what one shard's backend counted, per request kind (indexed like `request`).
struct backend_stats {
  std::array<std::uint64_t, request_kinds> submitted{};
  std::array<std::uint64_t, request_kinds> fallbacks{};  // io_uring: ops the kernel lacks, run by the emulation
  std::array<std::uint64_t, request_kinds> completed{};
  std::uint64_t enters = 0;                              // io_uring_enter / epoll_wait calls
  std::uint64_t cq_overflows = 0;                        // times the kernel reported CQ overflow
  std::uint64_t pool_parked = 0;                         // ops that waited for room in a full pool queue
  std::uint64_t polled = 0;                              // io_uring: `.polled()` ops completed by device polling...
  std::uint64_t polled_refused = 0;                      // ...and those the file or device could not poll (EOPNOTSUPP)
  std::uint64_t in_flight = 0;                           // ops submitted and not yet completed
  // Per kind, from the loop turn of submission to that of completion.
  std::array<std::array<std::uint64_t, latency_buckets>, request_kinds> latency{};
};

}  // namespace couring
