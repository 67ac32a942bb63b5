// sleep_for / sleep_until: timers on the loop. A sleep is asserted to last at least its duration,
// never at most: the machine may be slow, but a timer may never fire early.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

task<void> sleep_then_record(clock_type::time_point until, int id, std::vector<int>* order) {
  auto r = co_await sleep_until(until);
  REQUIRE(r);
  order->push_back(id);
}

task<void> stop_after_yields(stop_source* src) {
  co_await yield();
  co_await yield();
  src->request_stop();
}

}  // namespace

TEST_CASE("sleep_for lasts at least its duration and succeeds", "[core][sleep]") {
  run([]() -> task<void> {
    auto start = clock_type::now();
    auto r = co_await sleep_for(20ms);
    auto elapsed = clock_type::now() - start;
    REQUIRE(r);
    CHECK(elapsed >= 20ms);
  }());
}

TEST_CASE("sleep_until a future time returns no earlier than that time", "[core][sleep]") {
  run([]() -> task<void> {
    auto deadline = clock_type::now() + 15ms;
    auto r = co_await sleep_until(deadline);
    REQUIRE(r);
    CHECK(clock_type::now() >= deadline);
  }());
}

TEST_CASE("sleeps for zero, negative and past times complete successfully", "[core][sleep]") {
  int done = 0;
  run([&]() -> task<void> {
    auto zero = co_await sleep_for(0ms);
    CHECK(zero);
    ++done;
    auto negative = co_await sleep_for(-5s);
    CHECK(negative);
    ++done;
    auto past = co_await sleep_until(clock_type::now() - 1h);
    CHECK(past);
    ++done;
    auto epoch = co_await sleep_until(clock_type::time_point{});
    CHECK(epoch);
    ++done;
  }());
  CHECK(done == 4);
}

TEST_CASE("sleeps end in deadline order, whatever order they started in", "[core][sleep]") {
  std::vector<int> order;
  run([&]() -> task<void> {
    auto base = clock_type::now();
    spawn(sleep_then_record(base + 30ms, 3, &order));
    spawn(sleep_then_record(base + 10ms, 1, &order));
    spawn(sleep_then_record(base + 20ms, 2, &order));
    auto r = co_await sleep_until(base + 40ms);
    REQUIRE(r);
    order.push_back(4);
  }());
  CHECK(order == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("a thousand concurrent sleeps each resume exactly once", "[core][sleep]") {
  constexpr int sleepers = 1000;
  std::vector<int> resumed(sleepers, 0);
  int finished = 0;
  run([&]() -> task<void> {
    auto base = clock_type::now();
    auto one = [&](int i) -> task<void> {
      auto r = co_await sleep_until(base + std::chrono::microseconds(10 * (i % 100)));
      REQUIRE(r);
      ++resumed[i];
      ++finished;
    };
    for (int i = 0; i < sleepers; ++i) spawn(one(i));
    while (finished < sleepers) {
      auto r = co_await sleep_for(1ms);
      REQUIRE(r);
    }
  }());
  CHECK(finished == sleepers);
  CHECK(std::count(resumed.begin(), resumed.end(), 1) == sleepers);
}

TEST_CASE("a sleep whose stop token fires ends early with operation_canceled", "[core][sleep][cancel]") {
  int resumed = 0;
  run([&]() -> task<void> {
    stop_source src;
    spawn(stop_after_yields(&src));
    auto r = co_await sleep_for(1h).with_token(src.token());
    ++resumed;
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::operation_canceled);
  }());
  CHECK(resumed == 1);
}

TEST_CASE("sleep_for(hours::max()) saturates to 'forever' instead of overflowing, and can be cancelled",
          "[core][sleep][cancel]") {
  run([]() -> task<void> {
    stop_source src;
    spawn(stop_after_yields(&src));
    auto r = co_await sleep_for(std::chrono::hours::max()).with_token(src.token());
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::operation_canceled);
    auto until_max = clock_type::time_point::max();
    stop_source again;
    spawn(stop_after_yields(&again));
    auto m = co_await sleep_until(until_max).with_token(again.token());
    REQUIRE_FALSE(m);
    CHECK(m.error() == std::errc::operation_canceled);
  }());
}

TEST_CASE("a sleep awaited with an already stopped token completes at once with operation_canceled",
          "[core][sleep][cancel]") {
  run([]() -> task<void> {
    stop_source src;
    src.request_stop();
    auto r = co_await sleep_for(1h).with_token(src.token());
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::operation_canceled);
  }());
}

TEST_CASE("a task's stop token reaches the sleeps inside it", "[core][sleep][cancel]") {
  run([]() -> task<void> {
    stop_source src;
    auto inner = []() -> task<result<void>> { co_return co_await sleep_for(1h); };
    spawn(stop_after_yields(&src));
    auto r = co_await inner().with_token(src.token());
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::operation_canceled);
  }());
}
