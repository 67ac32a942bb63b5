// What a closed-loop load measured: requests completed, answers that came back wrong, connections
// that failed, and the latency of every round trip. All the clients of one workload run on the same
// shard, so they share one tally without locking.
#pragma once

#include "../echo/histogram.hpp"

#include <chrono>
#include <cstdint>

namespace tour {

using clock_type = std::chrono::steady_clock;

struct load_tally {
  std::uint64_t requests = 0;
  std::uint64_t wrong = 0;   // answers whose bytes differ from what was expected
  std::uint64_t failed = 0;  // connections that ended with an error instead of at the end time
  samples::histogram latency_ns;
  double seconds = 0;        // from the first connect to the last answer

  void record(clock_type::time_point sent_at) {
    ++requests;
    latency_ns.record(static_cast<std::uint64_t>(std::chrono::nanoseconds(clock_type::now() - sent_at).count()));
  }
  double per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  double p99_us() const { return static_cast<double>(latency_ns.percentile(0.99)) / 1000.0; }
  bool clean() const { return requests > 0 && wrong == 0 && failed == 0; }
};

}  // namespace tour
