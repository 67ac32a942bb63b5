#include "log.hpp"

#include <couring/assert.hpp>

#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace couring::detail {
namespace {

bool quiet() noexcept {
  const char* v = std::getenv("COURING_LOG");
  return v && std::strcmp(v, "quiet") == 0;
}

void write_line(std::string_view line) noexcept {
  try {
    fmt::print(stderr, "couring: {}\n", line);
  } catch (...) {
    // Logging must never turn a reported problem into a crash.
  }
}

}  // namespace

void log_notice(std::string_view line) noexcept {
  if (!quiet()) write_line(line);
}

void log_error(std::string_view line) noexcept { write_line(line); }

void assertion_failed(const char* expr, const char* file, int line, const char* why) noexcept {
  std::fprintf(stderr, "couring: contract broken at %s:%d: %s (%s)\n", file, line, why, expr);
  std::abort();
}

}  // namespace couring::detail
