#include "cancel_support.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace couring::testing {

std::size_t user_thread_count() {
  std::size_t n = 0;
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("iou-", 0) == 0) continue;
    ++n;
  }
  return n;
}

std::size_t scaled(std::size_t n, std::size_t sanitizer_divisor) {
  if (const char* p = std::getenv("COURING_TEST_ITERATIONS_PERCENT"); p && *p) {
    std::size_t percent = std::strtoul(p, nullptr, 10);
    std::size_t r = n * percent / 100;
    return r ? r : 1;
  }
  if (under_sanitizer() && sanitizer_divisor > 1) n /= sanitizer_divisor;
  return n ? n : 1;
}

std::uint32_t test_seed(std::uint32_t fallback) {
  if (const char* p = std::getenv("COURING_TEST_SEED"); p && *p) return static_cast<std::uint32_t>(std::strtoul(p, nullptr, 0));
  return fallback;
}

}  // namespace couring::testing
