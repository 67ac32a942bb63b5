// spawn(): detached tasks, what happens to their exceptions, and what run() does with the ones
// still blocked when it returns.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
using couring::testing::make_pipe;

namespace {

// Sets a flag when the frame holding it is destroyed, however that happens.
struct frame_guard {
  explicit frame_guard(bool* destroyed) noexcept : destroyed_(destroyed) {}
  frame_guard(frame_guard&& o) noexcept : destroyed_(std::exchange(o.destroyed_, nullptr)) {}
  ~frame_guard() {
    if (destroyed_) *destroyed_ = true;
  }
  bool* destroyed_;
};

// What a blocked detached task saw, if it was resumed at all.
struct outcome {
  bool destroyed = false;
  bool resumed = false;
  std::error_code error;
};

task<void> increment(int* n) {
  co_await yield();
  ++*n;
}

task<void> throw_after_yield(std::string what) {
  co_await yield();
  throw std::runtime_error(what);
}

task<void> spawn_children(int depth, int* ran) {
  ++*ran;
  if (depth > 0) {
    spawn(spawn_children(depth - 1, ran));
    spawn(spawn_children(depth - 1, ran));
  }
  co_return;
}

task<void> blocked_in_accept(tcp_listener l, outcome* o) {
  frame_guard g(&o->destroyed);
  auto s = co_await l.accept();
  o->resumed = true;
  o->error = s.error();
}

task<void> blocked_in_recv(unix_stream s, outcome* o) {
  frame_guard g(&o->destroyed);
  std::array<char, 16> buf{};
  auto r = co_await s.recv(buffer(buf));
  o->resumed = true;
  o->error = r.error();
}

task<void> blocked_in_recv_waitall(int fd, outcome* o) {
  frame_guard g(&o->destroyed);
  std::array<char, 16> buf{};
  auto r = co_await couring::recv(fd, buffer(buf), MSG_WAITALL);
  o->resumed = true;
  o->error = r.error();
}

task<void> blocked_in_sleep(outcome* o) {
  frame_guard g(&o->destroyed);
  auto r = co_await sleep_for(1h);
  o->resumed = true;
  o->error = r.error();
}

task<void> blocked_in_pipe_read(unique_fd fd, outcome* o) {
  frame_guard g(&o->destroyed);
  std::array<char, 16> buf{};
  auto r = co_await couring::read(fd.get(), buffer(buf));
  o->resumed = true;
  o->error = r.error();
}

task<void> blocked_in_poll(unix_stream s, outcome* o) {
  frame_guard g(&o->destroyed);
  auto r = co_await couring::poll(s.fd(), POLLIN);
  o->resumed = true;
  o->error = r.error();
}

task<void> retries_forever(unix_stream s, int* attempts, bool* destroyed) {
  frame_guard g(destroyed);
  std::array<char, 16> buf{};
  for (;;) {
    ++*attempts;
    auto r = co_await s.recv(buffer(buf));
    (void)r;  // ignores cancellation on purpose: shutdown must not depend on the task giving up
  }
}

task<void> nested_recv(unix_stream s, outcome* o) {
  auto inner = [](unix_stream st, outcome* out) -> task<void> {
    frame_guard g(&out->destroyed);
    std::array<char, 16> buf{};
    auto r = co_await st.recv(buffer(buf));
    out->resumed = true;
    out->error = r.error();
    auto never = co_await sleep_for(1h);  // awaited during shutdown: never submitted, the frame is destroyed
    (void)never;
  };
  co_await inner(std::move(s), o);
}

void check_cancelled(const outcome& o) {
  CHECK(o.destroyed);
  // The op in flight was cancelled and its completion delivered: operation_canceled, never a hang.
  if (o.resumed) CHECK(o.error == std::errc::operation_canceled);
}

}  // namespace

TEST_CASE("a spawned task runs to completion without being awaited, after its spawner suspends",
          "[core][spawn]") {
  int n = 0;
  run([&]() -> task<void> {
    spawn(increment(&n));
    CHECK(n == 0);  // spawn queues the task; it does not run inline
    while (n == 0) co_await yield();
  }());
  CHECK(n == 1);
}

TEST_CASE("ten thousand spawned tasks each run exactly once", "[core][spawn]") {
  constexpr int tasks = 10000;
  std::vector<int> runs(tasks, 0);
  int finished = 0;
  run([&]() -> task<void> {
    auto one = [&](int i) -> task<void> {
      co_await yield();
      ++runs[i];
      ++finished;
    };
    for (int i = 0; i < tasks; ++i) spawn(one(i));
    while (finished < tasks) co_await yield();
  }());
  CHECK(std::count(runs.begin(), runs.end(), 1) == tasks);
}

TEST_CASE("spawned tasks may spawn more tasks", "[core][spawn]") {
  int ran = 0;
  run([&]() -> task<void> {
    spawn(spawn_children(6, &ran));
    while (ran < 127) co_await yield();
  }());
  CHECK(ran == 127);
}

TEST_CASE("an exception escaping a detached task reaches the configured handler, and run() goes on",
          "[core][spawn][exception]") {
  std::vector<std::string> reported;
  runtime_config config;
  config.on_unhandled_exception = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::runtime_error& ex) {
      reported.push_back(ex.what());
    }
  };
  int value = run(
      [&]() -> task<int> {
        spawn(throw_after_yield("first"));
        spawn(throw_after_yield("second"));
        for (int i = 0; i < 5; ++i) co_await yield();
        co_return 11;
      }(),
      config);
  CHECK(value == 11);
  CHECK(reported == std::vector<std::string>{"first", "second"});
}

TEST_CASE("with the default handler, run() rethrows an exception that escaped a detached task, even while "
          "the main task is blocked",
          "[core][spawn][exception]") {
  fd_leak_check leaks;
  bool main_finished = false;
  CHECK_THROWS_WITH(run([&]() -> task<void> {
                      spawn(throw_after_yield("escaped"));
                      auto r = co_await sleep_for(1h);  // cancelled by the shutdown that follows
                      (void)r;
                      auto again = co_await sleep_for(1h);  // never submitted: the frame is destroyed
                      (void)again;
                      main_finished = true;
                    }()),
                    "escaped");
  CHECK_FALSE(main_finished);
}

TEST_CASE("a detached task blocked in accept when run() returns is cancelled and leaks no descriptor",
          "[core][spawn][shutdown]") {
  outcome o;
  {
    fd_leak_check leaks;
    run([&]() -> task<void> {
      auto l = tcp_listener::bind(endpoint::loopback_v4(0));
      REQUIRE(l);
      spawn(blocked_in_accept(std::move(*l), &o));
      co_await yield();
      co_await yield();
    }());
  }
  check_cancelled(o);
}

TEST_CASE("a detached task blocked in recv when run() returns is cancelled and leaks no descriptor",
          "[core][spawn][shutdown]") {
  outcome o;
  {
    fd_leak_check leaks;
    run([&]() -> task<void> {
      auto pair = unix_stream::pair();
      REQUIRE(pair);
      spawn(blocked_in_recv(std::move(pair->first), &o));
      co_await yield();
      co_await yield();
    }());
  }
  check_cancelled(o);
}

TEST_CASE("a detached task blocked in recv(MSG_WAITALL) on a live peer when run() returns is cancelled",
          "[core][spawn][shutdown][waitall]") {
  outcome o;
  fd_leak_check leaks;
  auto pair = unix_stream::pair();  // both ends outlive run(): nothing but cancellation can end the recv
  REQUIRE(pair);
  run([&]() -> task<void> {
    spawn(blocked_in_recv_waitall(pair->first.fd(), &o));
    auto r = co_await sleep_for(20ms);  // long enough for a worker to be inside a blocking recv
    REQUIRE(r);
  }());
  check_cancelled(o);
  CHECK(o.resumed);
}

TEST_CASE("a detached task blocked in a long sleep when run() returns is cancelled", "[core][spawn][shutdown]") {
  outcome o;
  fd_leak_check leaks;
  run([&]() -> task<void> {
    spawn(blocked_in_sleep(&o));
    co_await yield();
  }());
  check_cancelled(o);
}

TEST_CASE("detached tasks blocked in a pipe read and in poll when run() returns are cancelled",
          "[core][spawn][shutdown]") {
  outcome reader, poller;
  {
    fd_leak_check leaks;
    run([&]() -> task<void> {
      auto pipe = make_pipe();
      spawn(blocked_in_pipe_read(std::move(pipe.rd), &reader));
      auto pair = unix_stream::pair();
      REQUIRE(pair);
      spawn(blocked_in_poll(std::move(pair->first), &poller));
      co_await yield();
      co_await yield();
    }());
  }
  check_cancelled(reader);
  check_cancelled(poller);
}

TEST_CASE("a detached task that retries after cancellation is destroyed instead of keeping run() alive",
          "[core][spawn][shutdown]") {
  int attempts = 0;
  bool destroyed = false;
  {
    fd_leak_check leaks;
    run([&]() -> task<void> {
      auto pair = unix_stream::pair();
      REQUIRE(pair);
      spawn(retries_forever(std::move(pair->first), &attempts, &destroyed));
      co_await yield();
    }());
  }
  CHECK(destroyed);
  CHECK(attempts >= 1);
  CHECK(attempts <= 2);  // the retry after cancellation is never submitted
}

TEST_CASE("a task nested inside a blocked detached task is destroyed with it", "[core][spawn][shutdown]") {
  outcome o;
  {
    fd_leak_check leaks;
    run([&]() -> task<void> {
      auto pair = unix_stream::pair();
      REQUIRE(pair);
      spawn(nested_recv(std::move(pair->first), &o));
      co_await yield();
      co_await yield();
    }());
  }
  check_cancelled(o);
}

TEST_CASE("runtime::stop() from another thread cancels what the main task awaits", "[core][spawn][shutdown]") {
  fd_leak_check leaks;
  runtime rt;
  std::atomic<bool> waiting{false};
  std::thread stopper([&] {
    while (!waiting.load(std::memory_order_acquire)) std::this_thread::yield();
    rt.stop();
  });
  std::error_code seen;
  rt.run([&]() -> task<void> {
    waiting.store(true, std::memory_order_release);
    auto r = co_await sleep_for(1h);
    seen = r.error();
  }());
  stopper.join();
  CHECK(seen == std::errc::operation_canceled);
}
