#include "log.hpp"

#include <couring/assert.hpp>

#include <fmt/core.h>

#include <atomic>
#include <iterator>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

namespace couring {
namespace {

constexpr const char* level_names[] = {"debug", "info", "notice", "warning", "error", "off"};
constexpr int unset = -1;

std::atomic<int> threshold{unset};

// The sink is swapped under the mutex and called outside it: a sink that logs through couring,
// or a second thread logging meanwhile, never waits on a line in progress.
std::mutex sink_mutex;
std::shared_ptr<const log_sink> sink;

void write_line(log_level level, std::string_view line) noexcept {
  std::shared_ptr<const log_sink> s;
  {
    std::lock_guard lock(sink_mutex);
    s = sink;
  }
  try {
    if (s) (*s)(level, line); else fmt::print(stderr, "couring: {}\n", line);
  } catch (...) {
    // Logging must never turn a reported problem into a crash.
  }
}

// COURING_LOG, read once, for lines written before any runtime started. A bad value means the
// default here; the runtime's start reports it (runtime/config.cpp), with the other variables.
log_level threshold_from_environment() noexcept {
  const char* v = std::getenv("COURING_LOG");
  if (!v || !*v) return log_level::notice;
  return parse_log_level(v).value_or(log_level::notice);
}

}  // namespace

void set_log_threshold(log_level level) noexcept { threshold.store(static_cast<int>(level), std::memory_order_relaxed); }

log_level log_threshold() noexcept {
  int t = threshold.load(std::memory_order_relaxed);
  if (t == unset) {
    // Two threads may both read the environment; they find the same value.
    int fresh = static_cast<int>(threshold_from_environment());
    threshold.compare_exchange_strong(t, fresh, std::memory_order_relaxed);
    t = threshold.load(std::memory_order_relaxed);
  }
  return static_cast<log_level>(t);
}

void set_log_sink(log_sink s) {
  auto shared = s ? std::make_shared<const log_sink>(std::move(s)) : nullptr;
  std::lock_guard lock(sink_mutex);
  sink = std::move(shared);
}

const char* log_level_name(log_level level) noexcept {
  auto i = static_cast<std::size_t>(level);
  return i < std::size(level_names) ? level_names[i] : "?";
}

std::optional<log_level> parse_log_level(std::string_view name) noexcept {
  for (std::size_t i = 0; i < std::size(level_names); ++i)
    if (name == level_names[i]) return static_cast<log_level>(i);
  if (name == "quiet") return log_level::warning;
  return std::nullopt;
}

namespace detail {

void log(log_level level, std::string_view line) noexcept {
  if (level == log_level::off || level < log_threshold()) return;
  write_line(level, line);
}

void assertion_failed(const char* expr, const char* file, int line, const char* why) noexcept {
  std::fprintf(stderr, "couring: contract broken at %s:%d: %s (%s)\n", file, line, why, expr);
  std::abort();
}

}  // namespace detail
}  // namespace couring
