// What the worker pool's tests share: a runtime config whose every op goes through the pool, a
// file whose reads always go to a worker, and op factories for record().
#pragma once

#include "fallback_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace couring::testing {

inline runtime_config pool_config(unsigned threads, std::size_t queue_capacity = 4096) {
  runtime_config c;
  c.backend = backend_choice::thread_pool;
  c.uring_hidden_requests = {"all"};  // when COURING_BACKEND=io_uring: every op through the emulation
  c.pool_threads = threads;
  c.pool_queue_capacity = queue_capacity;
  c.shards = 1;  // thread counts below are the pool's alone
  return c;
}

// A file of known bytes, opened for reading: reads of it always go to a worker.
struct pattern_file {
  temp_dir dir;
  unique_fd fd;
  explicit pattern_file(std::size_t size = 4096) {
    std::string path = dir.make_pattern_file("pattern", size);
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
  }
};

// A read of `len` bytes at `offset` into `into`, as a factory for record().
inline auto read_into(int fd, char* into, std::size_t len, std::int64_t offset) {
  return [=] { return read_at(fd, buffer(into, len), offset); };
}

inline auto hold(worker_blocker& b) {
  return [&b] { return b.hold(); };
}

}  // namespace couring::testing
