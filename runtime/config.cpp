#include <couring/config.hpp>

#include "io/backend/request_kinds.hpp"

#include <cstdlib>
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

}  // namespace

runtime_config apply_environment(runtime_config config) {
  if (const char* v = std::getenv("COURING_BACKEND"); v && *v) {
    std::string_view b = v;
    if (b == "auto" || b == "automatic") config.backend = backend_choice::automatic;
    else if (b == "io_uring" || b == "uring") config.backend = backend_choice::io_uring;
    else if (b == "thread_pool" || b == "pool") config.backend = backend_choice::thread_pool;
    else throw std::invalid_argument("COURING_BACKEND=" + std::string(b) + ": expected auto, io_uring or thread_pool");
  }
  if (const char* v = std::getenv("COURING_URING_HIDE"); v && *v) {
    std::vector<std::string> names = split_commas(v);
    // Checked here, whichever backend runs: a typo must not pass unnoticed on a run that happens
    // to use the thread pool.
    try {
      (void)request_kinds_named(names, "all", "hide");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("COURING_URING_HIDE=") + v + ": " + e.what());
    }
    config.uring_hidden_requests.insert(config.uring_hidden_requests.end(), names.begin(), names.end());
  }
  if (const char* v = std::getenv("COURING_POOL_THREADS"); v && *v) {
    char* end = nullptr;
    unsigned long n = std::strtoul(v, &end, 10);
    if (*end != '\0' || n == 0 || n > 4096)
      throw std::invalid_argument(std::string("COURING_POOL_THREADS=") + v + ": expected a number from 1 to 4096");
    config.pool_threads = static_cast<unsigned>(n);
  }
  if (const char* v = std::getenv("COURING_SHARDS"); v && *v) {
    char* end = nullptr;
    unsigned long n = std::strtoul(v, &end, 10);
    if (*end != '\0' || n == 0 || n > 1024)
      throw std::invalid_argument(std::string("COURING_SHARDS=") + v + ": expected a number from 1 to 1024");
    config.shards = static_cast<unsigned>(n);
  }
  return config;
}

}  // namespace couring
