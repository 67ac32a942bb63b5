// Helpers the fiber tests share: descriptor pairs, the process's memory mappings (to find a
// fiber's stack and its guard page), a child run of this very binary (death tests), and loop
// sizes that shrink under sanitizers.
//
// Catch2 is not thread-safe: tests assert on shard 0 only; fibers on other shards record what
// they saw. Inside a fiber on shard 0, assertions are fine: it runs on the test's thread.
#pragma once

#include "support.hpp"

#include <couring/couring.hpp>

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace couring::testing {

// Both ends own their descriptor. Tests name the ends rather than use a structured binding,
// which clang 14 cannot capture in a lambda.
struct fd_pair {
  unique_fd first;
  unique_fd second;
};

// AF_UNIX socketpair of `type` (SOCK_STREAM, SOCK_SEQPACKET...), close-on-exec.
fd_pair socket_pair(int type = SOCK_STREAM);
fd_pair pipe_pair();

// Bytes queued on a socket or pipe, read without blocking.
std::size_t drain(int fd);

constexpr bool under_asan() noexcept { return address_sanitizer; }  // support.hpp

// `n`, or n / `asan_divisor` under ASan (never below 1).
constexpr std::size_t scaled(std::size_t n, std::size_t asan_divisor) noexcept {
  std::size_t r = under_asan() ? n / asan_divisor : n;
  return r ? r : 1;
}

// One line of /proc/self/maps.
struct mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::string perms;  // "rw-p", "---p"...
  bool contains(std::uintptr_t a) const noexcept { return a >= start && a < end; }
};
std::vector<mapping> memory_maps();
// The mapping that holds `address`, or nullptr.
const mapping* mapping_of(const std::vector<mapping>& maps, const void* address);
// The mapping just below `m` (adjacent), or nullptr.
const mapping* mapping_below(const std::vector<mapping>& maps, const mapping& m);

// Runs this test binary again with `args` (e.g. a hidden test's name), its stdout discarded, and
// reports how it ended and what it wrote to stderr.
struct child_outcome {
  bool exited = false;
  int exit_code = 0;
  bool signaled = false;
  int signal = 0;
  std::string err;  // its stderr
};
child_outcome run_self(const std::vector<std::string>& args);

// Resident set size in bytes, from /proc/self/statm.
std::size_t resident_bytes();

}  // namespace couring::testing
