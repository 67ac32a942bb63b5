// Cancelling a fiber: through its handle (cancel()) or a stop token given at spawn
// (fiber_options::token). Its current await and every later one yield operation_canceled,
// whatever it awaits (an op, a task, when_any, a channel, a sleep), and a cancelled recv takes no
// bytes. A fiber that fails with nobody to join it reaches the unhandled-exception handler.
#include "fiber_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
namespace t = couring::testing;

namespace {

bool is_canceled(const std::error_code& e) { return e == std::errc::operation_canceled; }

// What a fiber blocked in recv reports once cancelled.
struct recv_report {
  bool blocked_first = false;    // it reached the recv before the cancel
  bool recv_canceled = false;    // the recv yielded operation_canceled
  bool later_canceled = false;   // so did an await after it
  bool token_stopped = false;    // this_fiber::token() shows the stop
};

recv_report recv_until_canceled(int fd, bool& reached) {
  recv_report rep;
  std::array<char, 16> buf{};
  reached = true;
  auto r = blocking::recv(fd, buffer(buf));
  rep.blocked_first = true;
  rep.recv_canceled = !r && is_canceled(r.error());
  auto again = blocking::sleep_for(1h);  // would hang the test if it were not cancelled too
  rep.later_canceled = !again && is_canceled(again.error());
  rep.token_stopped = this_fiber::token().stop_requested();
  return rep;
}

task<result<std::size_t>> recv_in_task(int fd) {
  std::array<char, 16> buf{};
  co_return co_await couring::recv(fd, buffer(buf));
}

task<void> wait_until(const bool& flag) {
  while (!flag) co_await yield();
  co_await yield();  // the fiber has suspended in its op by now: one loop turn later
}

}  // namespace

TEST_CASE("cancel() ends a fiber's recv with operation_canceled, and its later awaits too", "[fiber][cancel]") {
  fd_leak_check leaks;
  run([]() -> task<void> {
    t::fd_pair p = t::socket_pair();
    int ours = p.first.get(), peer = p.second.get();
    bool reached = false;
    auto f = spawn_fiber([ours, &reached] { return recv_until_canceled(ours, reached); });
    co_await wait_until(reached);
    CHECK(runtime::current()->loop().ops_in_flight >= 1);  // the recv is in flight
    CHECK_FALSE(f.done());
    f.cancel();
    recv_report rep = co_await f;
    CHECK(rep.recv_canceled);
    CHECK(rep.later_canceled);
    CHECK(rep.token_stopped);
    // Bytes sent after the cancel are still there: the cancelled recv took nothing.
    auto s = co_await couring::send(peer, const_buffer_of(std::string("after")));
    REQUIRE(s);
    CHECK(t::drain(ours) == 5);
  }());
}

TEST_CASE("a stop token given in fiber_options cancels the fiber's recv", "[fiber][cancel][token]") {
  fd_leak_check leaks;
  run([]() -> task<void> {
    t::fd_pair p = t::socket_pair();
    int ours = p.first.get(), peer = p.second.get();
    stop_source stop;
    bool reached = false;
    auto f = spawn_fiber([ours, &reached] { return recv_until_canceled(ours, reached); }, {.token = stop.token()});
    co_await wait_until(reached);
    CHECK_FALSE(f.done());
    stop.request_stop();
    recv_report rep = co_await f;
    CHECK(rep.recv_canceled);
    CHECK(rep.later_canceled);
    CHECK(rep.token_stopped);
    auto s = co_await couring::send(peer, const_buffer_of(std::string("12345678")));
    REQUIRE(s);
    CHECK(t::drain(ours) == 8);
  }());
}

TEST_CASE("a fiber spawned with an already stopped token sees operation_canceled at its first await",
          "[fiber][cancel][token]") {
  run([]() -> task<void> {
    t::fd_pair p = t::socket_pair();
    int ours = p.first.get();
    stop_source stop;
    stop.request_stop();
    auto f = spawn_fiber(
        [ours] {
          std::array<char, 4> buf{};
          auto r = blocking::recv(ours, buffer(buf));
          return !r && is_canceled(r.error()) && this_fiber::token().stop_requested();
        },
        {.token = stop.token()});
    bool canceled = co_await f;
    CHECK(canceled);
  }());
}

TEST_CASE("cancelling a fiber reaches whatever it awaits: a task's op, when_any, a channel, a sleep",
          "[fiber][cancel]") {
  run([]() -> task<void> {
    t::fd_pair p = t::socket_pair();
    int ours = p.first.get();
    channel<int> ch(1);
    bool reached = false;

    SECTION("a task awaiting recv") {
      auto f = spawn_fiber([&] {
        reached = true;
        auto r = this_fiber::await(recv_in_task(ours));
        return !r && is_canceled(r.error());
      });
      co_await wait_until(reached);
      f.cancel();
      bool canceled = co_await f;
      CHECK(canceled);
    }
    SECTION("when_any of a recv and a sleep") {
      auto f = spawn_fiber([&] {
        reached = true;
        std::array<char, 4> buf{};
        auto r = this_fiber::await(when_any(couring::recv(ours, buffer(buf)), sleep_for(1h)));
        // Both were cancelled; the first to report its cancellation is the "winner".
        if (r.index == 0) return !std::get<0>(r.value) && is_canceled(std::get<0>(r.value).error());
        return !std::get<1>(r.value) && is_canceled(std::get<1>(r.value).error());
      });
      co_await wait_until(reached);
      f.cancel();
      bool canceled = co_await f;
      CHECK(canceled);
    }
    SECTION("a channel receive") {
      auto f = spawn_fiber([&] {
        reached = true;
        auto r = this_fiber::await(ch.receive());
        return !r && is_canceled(r.error());
      });
      co_await wait_until(reached);
      f.cancel();
      bool canceled = co_await f;
      CHECK(canceled);
      // The channel still works for others: nothing of the cancelled receive is left in it.
      auto s = co_await ch.send(7);
      REQUIRE(s);
      auto r = co_await ch.receive();
      REQUIRE(r);
      CHECK(*r == 7);
    }
    SECTION("a long sleep") {
      auto f = spawn_fiber([&] {
        reached = true;
        auto r = this_fiber::await(sleep_for(1h));
        return !r && is_canceled(r.error());
      });
      co_await wait_until(reached);
      f.cancel();
      bool canceled = co_await f;
      CHECK(canceled);
    }
  }());
}

TEST_CASE("cancelling a fiber that already finished changes nothing", "[fiber][cancel]") {
  run([]() -> task<void> {
    auto f = spawn_fiber([] { return 11; });
    co_await yield();
    co_await yield();
    REQUIRE(f.done());
    f.cancel();
    int v = co_await f;
    CHECK(v == 11);
  }());
}

TEST_CASE("a fiber that ignores cancellation finishes with its own value", "[fiber][cancel]") {
  run([]() -> task<void> {
    bool reached = false;
    auto f = spawn_fiber([&reached] {
      reached = true;
      auto r = blocking::sleep_for(1h);
      int canceled_awaits = 0;
      if (!r && is_canceled(r.error())) ++canceled_awaits;
      // It goes on computing (no await): cancellation only affects awaits.
      int sum = 0;
      for (int i = 1; i <= 10; ++i) sum += i;
      return sum * 10 + canceled_awaits;
    });
    co_await wait_until(reached);
    f.cancel();
    int v = co_await f;
    CHECK(v == 551);
  }());
}

// ---- failures nobody joins ----------------------------------------------------------------------

namespace {

struct handler_log {
  std::vector<std::string> messages;
};

runtime_config recording(handler_log& log) {
  runtime_config c;
  c.on_unhandled_exception = [&log](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log.messages.emplace_back(ex.what());
    }
  };
  return c;
}

}  // namespace

TEST_CASE("an un-joined failing fiber reaches the runtime's unhandled-exception handler", "[fiber][exceptions]") {
  handler_log log;
  run(
      []() -> task<void> {
        // Detached before it fails: the failure is reported when the fiber ends.
        (void)spawn_fiber([] {
          auto r = blocking::sleep_for(1ms);
          (void)r;
          throw std::runtime_error("detached fiber failed");
        });
        // Failed first, handle dropped afterwards: reported when the handle goes.
        {
          auto f = spawn_fiber([] { throw std::logic_error("failed, then dropped"); });
          for (int i = 0; i < 3 && !f.done(); ++i) co_await yield();
          CHECK(f.done());
        }
        // Joined: its failure is the joiner's, never the handler's.
        auto joined = spawn_fiber([] { throw std::runtime_error("joined"); });
        bool caught = false;
        try {
          co_await joined;
        } catch (const std::runtime_error&) {
          caught = true;
        }
        CHECK(caught);
        auto slept = co_await sleep_for(20ms);
        CHECK(slept);
      }(),
      recording(log));
  std::sort(log.messages.begin(), log.messages.end());
  CHECK(log.messages == std::vector<std::string>{"detached fiber failed", "failed, then dropped"});
}

TEST_CASE("with the default handler, an un-joined fiber's failure ends run() with that exception",
          "[fiber][exceptions]") {
  bool thrown = false;
  try {
    run([]() -> task<void> {
      (void)spawn_fiber([] { throw std::domain_error("nobody joined me"); });
      auto slept = co_await sleep_for(1h);  // the failure ends run() long before this
      (void)slept;
    }());
  } catch (const std::domain_error& e) {
    thrown = std::string(e.what()) == "nobody joined me";
  }
  CHECK(thrown);
}

TEST_CASE("a failed fiber whose handle outlives the runtime is reported at shutdown, never after",
          "[fiber][exceptions][shutdown]") {
  handler_log log;
  std::optional<fiber<int>> kept;
  run(
      [&]() -> task<void> {
        kept.emplace(spawn_fiber([]() -> int { throw std::runtime_error("kept past the runtime"); }));
        for (int i = 0; i < 3 && !kept->done(); ++i) co_await yield();
        CHECK(kept->done());
      }(),
      recording(log));
  CHECK(log.messages == std::vector<std::string>{"kept past the runtime"});
  kept.reset();  // the runtime is gone: nothing may be reported (or touched) now
  CHECK(log.messages.size() == 1);
}

TEST_CASE("joining a fiber is not cut short by cancellation; a fiber given the joiner's token is cancelled with it",
          "[fiber][cancel][join]") {
  run([]() -> task<void> {
    t::fd_pair p = t::socket_pair();
    int ours = p.first.get();
    bool reached = false;
    auto outer = spawn_fiber([ours, &reached] {
      auto inner = spawn_fiber(
          [ours, &reached] {
            reached = true;
            std::array<char, 4> buf{};
            auto r = blocking::recv(ours, buffer(buf));
            return !r && is_canceled(r.error());
          },
          {.token = this_fiber::token()});
      bool inner_canceled = this_fiber::await(inner);  // returns when inner has finished
      auto after = blocking::sleep_for(1h);             // the outer fiber's own awaits are cancelled
      return inner_canceled && !after && is_canceled(after.error());
    });
    co_await wait_until(reached);
    outer.cancel();
    bool both = co_await outer;
    CHECK(both);
  }());
}
