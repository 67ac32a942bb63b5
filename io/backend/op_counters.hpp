// What a backend counts: per request kind and for the whole backend. One writer (the shard's
// thread); any thread may take a snapshot (runtime::stats). Always on: the cost is measured in
// docs/io_uring-features.md.
#pragma once

#include "sched/base/stat_counter.hpp"

#include <couring/backend_info.hpp>

#include <array>
#include <bit>
#include <cstdint>

namespace couring {

struct op_counters {
  std::array<stat_counter, request_kinds> submitted;
  std::array<stat_counter, request_kinds> fallbacks;
  std::array<stat_counter, request_kinds> completed;
  std::array<std::array<stat_counter, latency_buckets>, request_kinds> latency;
  stat_counter enters;
  stat_counter cq_overflows;
  stat_counter pool_parked;
  stat_counter polled;
  stat_counter polled_refused;

  void submitted_one(std::size_t kind) noexcept { submitted[kind].add(); }
  // `now_ns` and `submitted_ns` are loop-turn clocks: the latency is counted in whole turns.
  void completed_one(std::size_t kind, std::int64_t submitted_ns, std::int64_t now_ns) noexcept {
    completed[kind].add();
    auto us = static_cast<std::uint64_t>(now_ns > submitted_ns ? now_ns - submitted_ns : 0) >> 10;
    std::size_t bucket = static_cast<std::size_t>(std::bit_width(us));
    latency[kind][bucket < latency_buckets ? bucket : latency_buckets - 1].add();
  }

  // Derived rather than counted: every op pays for its two counters, only drain() and stats() ask
  // for this. Read from another thread, it is a moment's estimate like every other statistic.
  std::uint64_t in_flight() const noexcept {
    std::uint64_t started = 0, finished = 0;
    for (std::size_t k = 0; k < request_kinds; ++k) {
      started += submitted[k].get();
      finished += completed[k].get();
    }
    return started >= finished ? started - finished : 0;
  }

  backend_stats snapshot() const noexcept {
    backend_stats s;
    for (std::size_t k = 0; k < request_kinds; ++k) {
      s.submitted[k] = submitted[k].get();
      s.fallbacks[k] = fallbacks[k].get();
      s.completed[k] = completed[k].get();
      for (std::size_t b = 0; b < latency_buckets; ++b) s.latency[k][b] = latency[k][b].get();
    }
    s.in_flight = in_flight();
    s.enters = enters.get();
    s.cq_overflows = cq_overflows.get();
    s.pool_parked = pool_parked.get();
    s.polled = polled.get();
    s.polled_refused = polled_refused.get();
    return s;
  }
};

}  // namespace couring
