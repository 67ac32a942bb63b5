#include <couring/config.hpp>

#include "io/backend/request_kinds.hpp"
#include "sched/base/log.hpp"

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

namespace couring {
namespace {

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> parts;
  while (!s.empty()) {
    auto comma = s.find(',');
    std::string_view part = s.substr(0, comma);
    if (!part.empty()) parts.emplace_back(part);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return parts;
}

// A whole decimal number in [low, high], or nothing.
std::optional<unsigned> number_in(const char* text, unsigned long low, unsigned long high) {
  if (*text < '0' || *text > '9') return std::nullopt;  // strtoul would take "-1" and " 8"
  errno = 0;
  char* end = nullptr;
  unsigned long n = std::strtoul(text, &end, 10);
  if (errno != 0 || *end != '\0' || n < low || n > high) return std::nullopt;
  return static_cast<unsigned>(n);
}

std::string count_or_default(unsigned n) { return n ? std::to_string(n) : std::string("the default"); }

const char* backend_choice_name(backend_choice c) noexcept {
  switch (c) {
    case backend_choice::automatic: return "auto";
    case backend_choice::io_uring: return "io_uring";
    case backend_choice::thread_pool: return "thread_pool";
  }
  return "auto";
}

// One warning line: the variable, its value, what is wrong with it, and what is used instead.
// Once per process: a program that starts many runtimes hears about a bad variable once.
void ignored(const char* name, const char* value, std::string_view problem, std::string_view kept) {
  static std::mutex m;
  static std::set<std::string> written;
  std::string line = fmt::format("{}={}: {}; using {}", name, value, problem, kept);
  {
    std::lock_guard lock(m);
    if (!written.insert(line).second) return;
  }
  detail::log_warning(line);
}

}  // namespace

runtime_config apply_environment(runtime_config config) {
  if (const char* v = std::getenv("COURING_LOG"); v && *v) {
    if (auto level = parse_log_level(v)) config.log_threshold = level;
    else ignored("COURING_LOG", v, "expected debug, info, notice, warning, error or off",
                 log_level_name(config.log_threshold.value_or(log_threshold())));
  }
  if (const char* v = std::getenv("COURING_BACKEND"); v && *v) {
    std::string_view b = v;
    if (b == "auto" || b == "automatic") config.backend = backend_choice::automatic;
    else if (b == "io_uring" || b == "uring") config.backend = backend_choice::io_uring;
    else if (b == "thread_pool" || b == "pool") config.backend = backend_choice::thread_pool;
    else ignored("COURING_BACKEND", v, "expected auto, io_uring or thread_pool", backend_choice_name(config.backend));
  }
  if (const char* v = std::getenv("COURING_URING_HIDE"); v && *v) {
    std::vector<std::string> names = split_commas(v);
    // Checked here, whichever backend runs: a typo must not pass unnoticed on a run that happens
    // to use the thread pool.
    try {
      (void)request_kinds_named(names, "all", "hide");
      config.uring_hidden_requests.insert(config.uring_hidden_requests.end(), names.begin(), names.end());
    } catch (const std::invalid_argument& e) {
      ignored("COURING_URING_HIDE", v, e.what(), "no kind hidden by the environment");
    }
  }
  if (const char* v = std::getenv("COURING_POOL_THREADS"); v && *v) {
    if (auto n = number_in(v, 1, 4096)) config.pool_threads = *n;
    else ignored("COURING_POOL_THREADS", v, "expected a number from 1 to 4096", count_or_default(config.pool_threads));
  }
  if (const char* v = std::getenv("COURING_SHARDS"); v && *v) {
    if (auto n = number_in(v, 1, 1024)) config.shards = *n;
    else ignored("COURING_SHARDS", v, "expected a number from 1 to 1024", count_or_default(config.shards));
  }
  return config;
}

}  // namespace couring
