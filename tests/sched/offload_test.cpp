// offload(fn): blocking and CPU-heavy calls leave the shard free, results and exceptions come
// back to the caller's shard, and cancellation follows POSIX AIO (a queued call never runs, a
// running one completes).
#include "sched_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace couring;
using couring::testing::settle;
using couring::testing::with_shards;

namespace {

// Advances `progress` once per loop turn of its shard until told to stop.
task<void> tick(std::atomic<long>& progress, const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    progress.fetch_add(1, std::memory_order_relaxed);
    co_await yield();
  }
}

// A blocking call that returns only once the caller's shard has visibly kept running: it waits
// for `progress` to advance by `needed`. The deadline only turns a stalled shard into a failed
// check instead of a hung test; it never decides a passing outcome.
long block_until_progress(const std::atomic<long>& progress, long needed) {
  long start = progress.load(std::memory_order_relaxed);
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (progress.load(std::memory_order_relaxed) - start < needed && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  return progress.load(std::memory_order_relaxed) - start;
}

task<long> offload_while_ticking(long needed) {
  std::atomic<long> progress{0};
  std::atomic<bool> stop{false};
  spawn(tick(progress, stop));
  long seen = co_await offload([&] { return block_until_progress(progress, needed); });
  stop.store(true, std::memory_order_relaxed);
  co_await settle();  // let the ticker see the flag and finish before its state goes
  co_return seen;
}

}  // namespace

TEST_CASE("an offloaded blocking call does not stall its shard: other tasks keep running meanwhile",
          "[sched][offload]") {
  long on_0 = 0, on_1 = 0;
  run([&]() -> task<void> {
    on_0 = co_await offload_while_ticking(1000);
    on_1 = co_await on_shard(1, [] { return offload_while_ticking(1000); });
  }(), with_shards(2));
  CHECK(on_0 >= 1000);
  CHECK(on_1 >= 1000);
}

namespace {

struct where_it_ran {
  std::thread::id caller, worker, resumed;
};

task<where_it_ran> offload_and_report() {
  where_it_ran w;
  w.caller = std::this_thread::get_id();
  w.worker = co_await offload([] { return std::this_thread::get_id(); });
  w.resumed = std::this_thread::get_id();
  co_return w;
}

struct offload_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

TEST_CASE("offload returns fn's value on a worker thread and resumes the caller on its own shard",
          "[sched][offload]") {
  where_it_ran here, there;
  int value = 0;
  bool void_ran = false;
  run([&]() -> task<void> {
    value = co_await offload([] { return 6 * 7; });
    co_await offload([&] { void_ran = true; });
    here = co_await offload_and_report();
    there = co_await on_shard(1, [] { return offload_and_report(); });
  }(), with_shards(2));
  CHECK(value == 42);
  CHECK(void_ran);
  CHECK(here.worker != here.caller);
  CHECK(here.resumed == here.caller);
  CHECK(there.worker != there.caller);
  CHECK(there.resumed == there.caller);
  CHECK(there.caller != here.caller);
}

TEST_CASE("an exception thrown by the offloaded function comes out of co_await offload", "[sched][offload]") {
  std::string message;
  run([&]() -> task<void> {
    try {
      co_await offload([]() -> int { throw offload_failure("from the pool"); });
    } catch (const offload_failure& e) {
      message = e.what();
    }
  }());
  CHECK(message == "from the pool");
}

namespace {

struct gate {
  std::atomic<bool> started{false};
  std::atomic<bool> open{false};
};

int wait_at(gate& g) {
  g.started.store(true, std::memory_order_release);
  while (!g.open.load(std::memory_order_acquire)) std::this_thread::sleep_for(std::chrono::microseconds(100));
  return 1;
}

struct outcome {
  bool resumed = false;
  int value = 0;
  std::error_code error;
};

task<void> offload_recording(gate* g, std::atomic<bool>* ran, outcome& out) {
  try {
    out.value = co_await offload([g, ran] {
      if (ran) ran->store(true);
      return g ? wait_at(*g) : 2;
    });
  } catch (const std::system_error& e) {
    out.error = e.code();
  }
  out.resumed = true;
}

task<void> until(const bool& flag) {
  while (!flag) co_await yield();
}

task<void> until_started(const gate& g) {
  while (!g.started.load(std::memory_order_acquire)) co_await yield();
}

}  // namespace

TEST_CASE("offload cancelled while queued never runs; cancelled while running it completes",
          "[sched][offload][cancel]") {
  runtime_config config;
  config.pool_threads = 1;  // one worker: the second call has to queue behind the first
  std::atomic<bool> second_ran{false};
  outcome first, second;
  run([&]() -> task<void> {
    gate g;
    stop_source cancel_first, cancel_second;
    spawn(offload_recording(&g, nullptr, first).with_token(cancel_first.token()));
    co_await until_started(g);  // the worker is busy in the first call
    spawn(offload_recording(nullptr, &second_ran, second).with_token(cancel_second.token()));
    co_await settle();
    cancel_second.request_stop();  // still queued: withdrawn, never run
    co_await until(second.resumed);
    cancel_first.request_stop();   // running: runs to the end, result delivered
    co_await settle();
    CHECK_FALSE(first.resumed);
    g.open.store(true, std::memory_order_release);
    co_await until(first.resumed);
  }(), config);
  CHECK(second.error == std::errc::operation_canceled);
  CHECK_FALSE(second_ran.load());
  CHECK(first.value == 1);
  CHECK_FALSE(first.error);
}

TEST_CASE("more offloads than the pool queue holds wait their turn and all complete", "[sched][offload]") {
  runtime_config config;
  config.pool_threads = 1;
  config.pool_queue_capacity = 2;
  std::vector<outcome> results(12);
  std::size_t high_water = 0, capacity = 0;
  run([&]() -> task<void> {
    std::vector<task<void>> calls;
    for (auto& r : results) calls.push_back(offload_recording(nullptr, nullptr, r));
    co_await when_all(std::move(calls));
    high_water = runtime::current()->pool().queue_high_water;
    capacity = runtime::current()->pool().queue_capacity;
  }(), config);
  for (auto& r : results) CHECK(r.value == 2);
  CHECK(capacity == 2);
  CHECK(high_water <= 2);
}
