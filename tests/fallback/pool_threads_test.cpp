// The worker pool's threads: started as work needs them, never beyond the limit, gone when idle,
// and what happens when none can be started. Thread counts are the pool's alone (one shard).
#include "deny_io_uring.hpp"
#include "fallback_support.hpp"
#include "pool_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::child_outcome;
using couring::testing::counter;
using couring::testing::expectations;
using couring::testing::hold;
using couring::testing::in_child;
using couring::testing::lines_of;
using couring::testing::op_record;
using couring::testing::pattern_byte;
using couring::testing::pattern_file;
using couring::testing::pool_config;
using couring::testing::read_into;
using couring::testing::record;
using couring::testing::stderr_capture;
using couring::testing::thread_count;
using couring::testing::worker_blocker;

TEST_CASE("workers start as work needs them, never more than configured, however many ops are in flight",
          "[fallback][pool][threads]") {
  pattern_file file;
  worker_blocker first, second;
  constexpr int ops = 50;
  std::vector<op_record> rec(ops);
  op_record h1, h2;
  counter done;
  std::vector<char> bytes(ops);
  const std::size_t before = thread_count();
  runtime rt(pool_config(2));
  CHECK(rt.pool().threads == 2);
  CHECK(rt.pool().started == 0);
  CHECK(thread_count() == before);  // no work yet: no worker
  rt.run([&]() -> task<void> {
    spawn(record(hold(first), {}, &h1, &done));
    spawn(record(hold(second), {}, &h2, &done));
    for (int i = 0; i < ops; ++i) spawn(record(read_into(file.fd.get(), &bytes[i], 1, i), {}, &rec[i], &done));
    co_await yield();
    CHECK(thread_count() == before + 2);  // both workers blocked, 50 ops queued: no thread added
    CHECK(rt.pool().started == 2);
    first.release();
    second.release();
    co_await done.at_least(ops + 2);
    CHECK(thread_count() == before + 2);
  }());
  for (int i = 0; i < ops; ++i) CHECK(rec[i].res == 1);
}

TEST_CASE("a program whose ops never need a worker runs none", "[fallback][pool][threads]") {
  const std::size_t before = thread_count();
  runtime rt(pool_config(4));
  rt.run([&]() -> task<void> {
    auto n = co_await nop();
    CHECK(n);
    auto slept = co_await sleep_for(std::chrono::milliseconds(1));  // a timer of the loop's, not a worker
    CHECK(slept);
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    unique_fd read_end(ends[0]), write_end(ends[1]);
    const char byte = 'x';
    auto w = co_await write(write_end.get(), buffer(&byte, 1));  // pollable: readiness, no worker
    CHECK((w && *w == 1));
    char back = 0;
    auto r = co_await read(read_end.get(), buffer(&back, 1));
    CHECK((r && *r == 1 && back == 'x'));
  }());
  CHECK(rt.pool().started == 0);
  CHECK(thread_count() == before);
}

TEST_CASE("a worker idle for pool_idle_timeout exits; the next op that needs one starts it again",
          "[fallback][pool][threads]") {
  pattern_file file;
  const std::size_t before = thread_count();
  runtime_config c = pool_config(2);
  c.pool_idle_timeout = std::chrono::milliseconds(50);
  runtime rt(c);
  rt.run([&]() -> task<void> {
    unsigned char byte = 0;
    auto r = co_await read_at(file.fd.get(), buffer(&byte, 1), 0);
    CHECK((r && *r == 1 && byte == pattern_byte(0)));
    CHECK(rt.pool().started == 1);
    // Idle: the worker's wait times out after 50 ms; give it ample time on a loaded machine.
    for (int i = 0; i < 200 && rt.pool().started > 0; ++i) {
      auto slept = co_await sleep_for(std::chrono::milliseconds(10));
      CHECK(slept);
    }
    CHECK(rt.pool().started == 0);
    CHECK(thread_count() == before);
    r = co_await read_at(file.fd.get(), buffer(&byte, 1), 1);
    CHECK((r && *r == 1 && byte == pattern_byte(1)));
    CHECK(rt.pool().started == 1);
  }());
}

TEST_CASE("when no worker can be started, a queued op fails with EAGAIN and the reason is logged; nothing hangs",
          "[fallback][pool][threads]") {
  pattern_file file;
  child_outcome out = in_child([&]() -> std::string {
    expectations e;
    stderr_capture capture;
    {
      runtime_config c = pool_config(2);
      c.log_threshold = log_level::error;
      runtime rt(c);  // one shard: the runtime itself starts no thread
      if (int r = couring::testing::deny_thread_creation(EAGAIN); r < 0)
        return std::string("cannot install the seccomp filter: ") + std::strerror(-r);
      rt.run([&]() -> task<void> {
        char byte = 0;
        auto r = co_await read_at(file.fd.get(), buffer(&byte, 1), 0);
        e.check(!r && r.error() == std::errc::resource_unavailable_try_again,
                "the read failed with EAGAIN, got " + (r ? std::string("success") : r.error().message()));
        e.check(rt.pool().started == 0, "no worker is counted");
      }());
    }
    auto lines = lines_of(capture.finish());
    e.check(lines.size() == 1, "one line logged, got " + std::to_string(lines.size()));
    if (!lines.empty()) e.contains(lines[0], "couring: cannot start a thread-pool worker", "the line");
    return e.failures();
  });
  REQUIRE(out.exited);
  CHECK(out.status == 0);
  CHECK(out.report == "");
}
