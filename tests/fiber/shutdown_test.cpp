// Shutdown with fibers still suspended: when run() ends, every fiber that can never finish is
// unwound (its destructors run, its descriptors close, its stack goes back to the pool), on every
// shard, whatever it was waiting for; nothing leaks (ASan's leak check covers memory) and nothing
// hangs.
#include "fiber_support.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
namespace t = couring::testing;

namespace {

// Counts its own destruction: a fiber unwound at shutdown runs it.
struct witness {
  std::atomic<int>* destroyed;
  explicit witness(std::atomic<int>* d) noexcept : destroyed(d) {}
  witness(const witness&) = delete;
  ~witness() { destroyed->fetch_add(1, std::memory_order_relaxed); }
};

struct counters {
  std::atomic<int> started{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> finished{0};  // bodies that returned normally: none should
  std::atomic<int> retries{0};
};

task<result<std::size_t>> recv_in_task(int fd) {
  std::array<char, 8> buf{};
  co_return co_await couring::recv(fd, buffer(buf));
}

task<void> await_fiber(fiber<void>& f, counters& c) {
  co_await f;
  c.finished.fetch_add(1);
}

// A fiber's body: sleeps for an hour, twice. Shutdown cancels the first sleep and never submits
// the second, where the fiber is unwound: it never finishes.
void sleep_until_unwound(counters& c) {
  witness w(&c.destroyed);
  c.started.fetch_add(1);
  auto r = blocking::sleep_for(1h);
  (void)r;
  auto again = blocking::sleep_for(1h);
  (void)again;
  c.finished.fetch_add(1);
}

// Starts one fiber of each kind of wait; each owns a socket end through a unique_fd and a witness.
// Returns how many it started.
int start_suspended_fibers(counters& c, channel<int>& ch, std::vector<fiber<void>>& kept) {
  int n = 0;
  kept.reserve(16);  // a detached task below holds a reference to an element
  auto own_socket = [] {
    t::fd_pair p = t::socket_pair();
    return p;  // both ends move into the fiber
  };

  kept.push_back(spawn_fiber([&c, p = own_socket()] {  // recv
    witness w(&c.destroyed);
    c.started.fetch_add(1);
    std::array<char, 8> buf{};
    auto r = blocking::recv(p.first.get(), buffer(buf));
    (void)r;
    auto again = blocking::recv(p.first.get(), buffer(buf));  // never submitted: shutdown freezes it
    (void)again;
    c.finished.fetch_add(1);
  }));
  ++n;

  kept.push_back(spawn_fiber([&c] {  // a long sleep
    witness w(&c.destroyed);
    c.started.fetch_add(1);
    for (;;) {
      auto r = blocking::sleep_for(1h);
      if (!r) break;
    }
    auto again = blocking::sleep_for(1h);
    (void)again;
    c.finished.fetch_add(1);
  }));
  ++n;

  kept.push_back(spawn_fiber([&c, &ch] {  // a channel receive
    witness w(&c.destroyed);
    c.started.fetch_add(1);
    auto r = this_fiber::await(ch.receive());
    (void)r;
    c.finished.fetch_add(1);
  }));
  ++n;

  kept.push_back(spawn_fiber([&c, p = own_socket()] {  // a task awaiting recv
    witness w(&c.destroyed);
    c.started.fetch_add(1);
    auto r = this_fiber::await(recv_in_task(p.first.get()));
    (void)r;
    auto again = this_fiber::await(recv_in_task(p.first.get()));
    (void)again;
    c.finished.fetch_add(1);
  }));
  ++n;

  // A stubborn fiber: retries whatever happens. Shutdown stops submitting its ops, so it ends up
  // suspended for good and is unwound like the others.
  kept.push_back(spawn_fiber([&c, p = own_socket()] {
    witness w(&c.destroyed);
    c.started.fetch_add(1);
    std::array<char, 8> buf{};
    for (int i = 0; i < 1000; ++i) {
      auto r = blocking::recv(p.first.get(), buffer(buf));
      (void)r;
      c.retries.fetch_add(1);
    }
    c.finished.fetch_add(1);
  }));
  ++n;

  // A fiber catching std::exception around its wait: the unwinding passes through it.
  kept.push_back(spawn_fiber([&c] {
    witness w(&c.destroyed);
    c.started.fetch_add(1);
    try {
      auto r = blocking::sleep_for(1h);
      (void)r;
      auto again = blocking::sleep_for(1h);
      (void)again;
    } catch (const std::exception&) {
      c.finished.fetch_add(100);  // must not happen
    }
    c.finished.fetch_add(1);
  }));
  ++n;

  // A fiber awaiting another fiber (which sleeps), both detached.
  auto sleeper = spawn_fiber([&c] { sleep_until_unwound(c); });
  ++n;
  (void)spawn_fiber([&c, s = std::move(sleeper)]() mutable {
    witness w(&c.destroyed);
    c.started.fetch_add(1);
    this_fiber::await(s);
    c.finished.fetch_add(1);
  });
  ++n;

  // A fiber awaited by a detached task; both are suspended when run() ends.
  kept.push_back(spawn_fiber([&c] { sleep_until_unwound(c); }));
  spawn(await_fiber(kept.back(), c));
  ++n;
  return n;
}

task<void> start_and_return(counters& c, channel<int>& ch, std::vector<fiber<void>>& kept, int& started) {
  started = start_suspended_fibers(c, ch, kept);
  for (int i = 0; i < 5; ++i) co_await yield();  // every fiber reaches its wait
}

}  // namespace

TEST_CASE("run() returns while fibers are suspended: each is unwound, nothing leaks, nothing hangs",
          "[fiber][shutdown]") {
  fd_leak_check leaks;
  counters c;
  channel<int> ch(1);  // outlives the runtime, as a channel must outlive its waiters
  int spawned = 0;
  {
    std::vector<fiber<void>> kept;
    run(start_and_return(c, ch, kept, spawned));
    // The handles outlive the runtime: they only hold the fibers' (finished) bookkeeping.
    for (const auto& f : kept) CHECK(f.done());
  }
  CHECK(spawned == 9);
  CHECK(c.started.load() == spawned);
  CHECK(c.destroyed.load() == spawned);
  CHECK(c.finished.load() == 0);
  CHECK(c.retries.load() <= 2);  // the stubborn fiber's retry was frozen, not looping
}

TEST_CASE("a fiber spawned just before run() returns is started or dropped, never leaked", "[fiber][shutdown]") {
  fd_leak_check leaks;
  counters c;
  run([&]() -> task<void> {
    (void)spawn_fiber([&c] {
      witness w(&c.destroyed);
      c.started.fetch_add(1);
      auto r = blocking::sleep_for(1h);
      (void)r;
      c.finished.fetch_add(1);
    });
    co_return;
  }());
  CHECK(c.destroyed.load() == c.started.load());
  CHECK(c.finished.load() == 0);
}

TEST_CASE("runtime::stop() from another thread unwinds suspended fibers", "[fiber][shutdown]") {
  fd_leak_check leaks;
  counters c;
  std::atomic<bool> waiting{false};
  bool threw_canceled = false;
  {
    runtime rt;
    std::thread stopper([&] {
      while (!waiting.load(std::memory_order_acquire)) std::this_thread::yield();
      rt.stop();
    });
    try {
      rt.run([&]() -> task<void> {
        t::fd_pair p = t::socket_pair();
        int fd = p.first.get();
        auto f = spawn_fiber([&c, &waiting, fd] {
          witness w(&c.destroyed);
          c.started.fetch_add(1);
          waiting.store(true, std::memory_order_release);
          std::array<char, 8> buf{};
          auto r = blocking::recv(fd, buffer(buf));
          (void)r;
          auto again = blocking::recv(fd, buffer(buf));
          (void)again;
          c.finished.fetch_add(1);
        });
        co_await f;  // never: stop() ends run() first
      }());
    } catch (const std::system_error& e) {
      threw_canceled = e.code() == std::errc::operation_canceled;
    }
    stopper.join();
  }
  CHECK(threw_canceled);
  CHECK(c.started.load() == 1);
  CHECK(c.destroyed.load() == 1);
  CHECK(c.finished.load() == 0);
}

namespace {

task<int> start_here(counters& c, std::vector<fiber<void>>& kept, int fd) {
  for (int i = 0; i < 20; ++i) {
    kept.push_back(spawn_fiber([&c, fd] {
      witness w(&c.destroyed);
      c.started.fetch_add(1);
      std::array<char, 8> buf{};
      auto r = blocking::recv(fd, buffer(buf));
      (void)r;
      auto again = blocking::sleep_for(1h);
      (void)again;
      c.finished.fetch_add(1);
    }));
  }
  for (int i = 0; i < 5; ++i) co_await yield();
  co_return static_cast<int>(this_shard());
}

}  // namespace

TEST_CASE("fibers suspended on every shard are unwound at shutdown", "[fiber][shutdown][shards]") {
  fd_leak_check leaks;
  counters c;
  t::fd_pair p = t::socket_pair();
  int fd = p.first.get();
  std::vector<fiber<void>> on0, on1;  // each shard's handles, made and dropped on that shard
  int where0 = -1, where1 = -1;
  runtime_config config;
  config.shards = 2;
  run(
      [&]() -> task<void> {
        where0 = co_await on_shard(0, [&] { return start_here(c, on0, fd); });
        where1 = co_await on_shard(1, [&] { return start_here(c, on1, fd); });
        // Drop shard 1's handles on shard 1 (a fiber's handle belongs to its shard).
        co_await on_shard(1, [&] { on1.clear(); });
      }(),
      config);
  on0.clear();
  CHECK(where0 == 0);
  CHECK(where1 == 1);
  CHECK(c.started.load() == 40);
  CHECK(c.destroyed.load() == 40);
  CHECK(c.finished.load() == 0);
}

TEST_CASE("a runtime made after one that unwound fibers runs fibers again", "[fiber][shutdown]") {
  for (int round = 0; round < 3; ++round) {
    counters c;
    int value = 0;
    run([&]() -> task<void> {
      (void)spawn_fiber([&c] {
        witness w(&c.destroyed);
        auto r = blocking::sleep_for(1h);
        (void)r;
      });
      auto f = spawn_fiber([] {
        auto r = blocking::sleep_for(1ms);
        return r ? 7 : -1;
      });
      value = co_await f;
    }());
    CHECK(value == 7);
    CHECK(c.destroyed.load() == 1);
  }
}
