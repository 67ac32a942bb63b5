// Fibers on every shard: spawned there through on_shard, they run, do I/O, sleep and finish on
// that shard's thread (each thread has its own stack pool); fibers on different shards talk
// through a channel; a fiber awaits work on another shard; and cancelling a cross-shard call
// reaches a fiber on the other shard through the stop token it was given.
#include "fiber_support.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
namespace t = couring::testing;

namespace {

runtime_config two_shards() {
  runtime_config c;
  c.shards = 2;
  return c;
}

// What the fibers of one shard saw; made on that shard, checked on shard 0.
struct shard_report {
  unsigned shard = 99;
  int fibers_ok = 0;
  int wrong_shard = 0;
  int wrong_thread = 0;
  int io_failures = 0;
};

// Runs `count` fibers here, each checking that it runs on this shard's thread, does a pipe round
// trip and a sleep, and is still on the same thread afterwards.
task<shard_report> fibers_here(int count) {
  shard_report rep;
  rep.shard = this_shard();
  const std::thread::id home = std::this_thread::get_id();
  std::vector<fiber<bool>> fs;
  for (int i = 0; i < count; ++i) {
    fs.push_back(spawn_fiber([&rep, home, i] {
      if (this_shard() != rep.shard) ++rep.wrong_shard;
      if (std::this_thread::get_id() != home) ++rep.wrong_thread;
      t::fd_pair p = t::pipe_pair();
      std::string msg = "fiber " + std::to_string(i);
      auto w = blocking::write_all(p.second.get(), const_buffer_of(msg));
      std::string back(msg.size(), '\0');
      auto r = blocking::read_exactly(p.first.get(), buffer(back));
      auto s = blocking::sleep_for(1ms);
      if (!w || !r || !s || back != msg) ++rep.io_failures;
      if (std::this_thread::get_id() != home || this_shard() != rep.shard) ++rep.wrong_thread;
      return true;
    }));
  }
  for (auto& f : fs) {
    bool ok = co_await f;
    rep.fibers_ok += ok;
  }
  co_return rep;
}

}  // namespace

TEST_CASE("fibers run on every shard, spawned there through on_shard", "[fiber][shards]") {
  fd_leak_check leaks;
  const int per_shard = 200;
  std::vector<shard_report> reports;
  run(
      [&]() -> task<void> {
        REQUIRE(shard_count() == 2);
        // One shard after the other, then both at once.
        for (unsigned k = 0; k < 2; ++k) {
          shard_report r = co_await on_shard(k, [] { return fibers_here(per_shard); });
          reports.push_back(r);
        }
        auto [a, b] = co_await when_all(on_shard(0, [] { return fibers_here(per_shard); }),
                                        on_shard(1, [] { return fibers_here(per_shard); }));
        reports.push_back(a);
        reports.push_back(b);
      }(),
      two_shards());
  REQUIRE(reports.size() == 4);
  for (std::size_t i = 0; i < reports.size(); ++i) {
    INFO("report " << i);
    CHECK(reports[i].shard == i % 2);
    CHECK(reports[i].fibers_ok == per_shard);
    CHECK(reports[i].wrong_shard == 0);
    CHECK(reports[i].wrong_thread == 0);
    CHECK(reports[i].io_failures == 0);
  }
}

namespace {

task<int> send_from_fiber(channel<int>& ch, int count) {
  auto f = spawn_fiber([&ch, count] {
    int sent = 0;
    for (int i = 0; i < count; ++i) {
      auto s = this_fiber::await(ch.send(i));
      if (!s) break;
      ++sent;
    }
    ch.close();
    return sent;
  });
  co_return co_await f;
}

}  // namespace

TEST_CASE("a fiber on shard 1 sends through a channel to a fiber on shard 0", "[fiber][shards][channel]") {
  const int count = 2000;
  int sent = -1;
  std::vector<int> got;
  run(
      [&]() -> task<void> {
        channel<int> ch(8);
        auto receiver = spawn_fiber([&ch] {
          std::vector<int> v;
          for (;;) {
            auto r = this_fiber::await(ch.receive());
            if (!r) break;
            v.push_back(*r);
          }
          return v;
        });
        sent = co_await on_shard(1, [&ch] { return send_from_fiber(ch, count); });
        got = co_await receiver;
      }(),
      two_shards());
  CHECK(sent == count);
  REQUIRE(got.size() == static_cast<std::size_t>(count));
  std::size_t in_order = 0;
  for (int i = 0; i < count; ++i) in_order += got[static_cast<std::size_t>(i)] == i;
  CHECK(in_order == static_cast<std::size_t>(count));
}

TEST_CASE("a fiber awaits on_shard work on the other shard and resumes on its own", "[fiber][shards]") {
  unsigned ran_on = 99, before = 99, after = 99;
  run(
      [&]() -> task<void> {
        auto f = spawn_fiber([&] {
          before = this_shard();
          ran_on = this_fiber::await(on_shard(1, [] { return this_shard(); }));
          after = this_shard();
        });
        co_await f;
      }(),
      two_shards());
  CHECK(before == 0);
  CHECK(ran_on == 1);
  CHECK(after == 0);
}

namespace {

// On shard 1: a fiber blocked in recv, given the stop token of the cross-shard call that started
// this task, so that cancelling the call cancels the fiber.
task<bool> recv_in_fiber_with_callers_token(int fd, std::atomic<int>* outcome) {
  stop_token token = co_await current_stop_token();
  auto f = spawn_fiber(
      [fd, outcome] {
        std::array<char, 8> buf{};
        auto r = blocking::recv(fd, buffer(buf));
        const bool canceled = !r && r.error() == std::errc::operation_canceled;
        outcome->store(canceled ? 1 : 2, std::memory_order_relaxed);
        return canceled;
      },
      {.token = token});
  co_return co_await f;
}

}  // namespace

TEST_CASE("cancelling a cross-shard call reaches a fiber on the other shard through its stop token",
          "[fiber][shards][cancel]") {
  fd_leak_check leaks;
  t::fd_pair p = t::socket_pair();
  int fd = p.first.get();
  std::atomic<int> outcome{0};
  std::size_t winner = 99;
  run(
      [&]() -> task<void> {
        auto r = co_await when_any(on_shard(1, [fd, &outcome] { return recv_in_fiber_with_callers_token(fd, &outcome); }),
                                   sleep_for(5ms));
        winner = r.index;
      }(),
      two_shards());
  CHECK(winner == 1);          // the sleep won: nothing was ever sent
  CHECK(outcome.load() == 1);  // and the fiber on shard 1 saw its recv cancelled before when_any returned
  CHECK(t::drain(fd) == 0);
}
