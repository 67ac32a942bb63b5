// task<T>: lazy, move-only, exceptions travel to the awaiter, constant stack over deep chains,
// frames recycled per thread. No I/O: these hold whatever the backend.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

using namespace couring;

namespace {

struct counted {
  explicit counted(int* destroyed) noexcept : destroyed_(destroyed) {}
  counted(counted&& o) noexcept : destroyed_(std::exchange(o.destroyed_, nullptr)) {}
  counted(const counted&) = delete;
  ~counted() {
    if (destroyed_) ++*destroyed_;
  }
  int* destroyed_;
};

task<int> value_of(int v) { co_return v; }

task<int> throws_logic_error(std::string what) {
  co_await yield();
  throw std::logic_error(what);
}

task<int> adds_one_to(task<int> inner) {
  int v = co_await std::move(inner);
  co_return v + 1;
}

task<std::size_t> depth(std::size_t n) {
  if (n == 0) co_return 0;
  std::size_t below = co_await depth(n - 1);
  co_return below + 1;
}

task<void> count_down(std::size_t n, std::size_t* reached) {
  if (n == 0) {
    co_await yield();  // the deepest frame suspends through the loop: the chain resumes from there
    co_return;
  }
  co_await count_down(n - 1, reached);
  ++*reached;
}

task<void> short_lived(int* finished) {
  co_await yield();
  ++*finished;
}

task<void> takes_guard(counted guard, bool* ran) {
  (void)guard;
  *ran = true;
  co_return;
}

}  // namespace

static_assert(!std::is_copy_constructible_v<task<int>> && !std::is_copy_assignable_v<task<int>>,
              "a task has one owner");
static_assert(std::is_nothrow_move_constructible_v<task<int>> && std::is_nothrow_move_assignable_v<task<int>>,
              "a task moves without throwing");

TEST_CASE("a task does not start until it is awaited", "[core][task]") {
  bool started = false;
  int value = 0;
  run([&]() -> task<void> {
    auto body = [&]() -> task<int> {
      started = true;
      co_return 42;
    };
    task<int> t = body();
    CHECK_FALSE(started);
    CHECK(t.valid());
    CHECK_FALSE(t.done());
    co_await yield();
    CHECK_FALSE(started);
    value = co_await std::move(t);
    CHECK(started);
  }());
  CHECK(value == 42);
}

TEST_CASE("a task is move-only: the moved-to task runs, the moved-from one is empty", "[core][task]") {
  int value = 0;
  run([&]() -> task<void> {
    task<int> a = value_of(7);
    task<int> b = std::move(a);
    CHECK_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): that is the point
    CHECK(b.valid());
    task<int> c;
    c = std::move(b);
    CHECK_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
    value = co_await std::move(c);
  }());
  CHECK(value == 7);
}

TEST_CASE("an exception thrown in a task reaches the awaiting coroutine, which may catch it and go on",
          "[core][task][exception]") {
  std::string caught;
  int after = 0;
  run([&]() -> task<void> {
    try {
      (void)co_await throws_logic_error("inner failure");
    } catch (const std::logic_error& e) {
      caught = e.what();
    }
    after = co_await value_of(5);
  }());
  CHECK(caught == "inner failure");
  CHECK(after == 5);
}

TEST_CASE("an exception crosses several levels of awaiting tasks and leaves run() with its type",
          "[core][task][exception]") {
  auto top = []() -> task<int> { co_return co_await adds_one_to(adds_one_to(throws_logic_error("deep"))); };
  CHECK_THROWS_AS(run(top()), std::logic_error);
  CHECK_THROWS_WITH(run(top()), "deep");
}

TEST_CASE("run() returns the task's value; sync_wait does the same", "[core][task]") {
  CHECK(run(adds_one_to(value_of(1))) == 2);
  CHECK(sync_wait(value_of(9)) == 9);
  auto unique = run([]() -> task<std::unique_ptr<int>> { co_return std::make_unique<int>(3); }());
  REQUIRE(unique);
  CHECK(*unique == 3);
}

TEST_CASE("task<void> completes, and its effects are visible to the awaiter right after", "[core][task]") {
  std::vector<int> steps;
  run([&]() -> task<void> {
    auto step = [&](int i) -> task<void> {
      co_await yield();
      steps.push_back(i);
    };
    for (int i = 0; i < 5; ++i) {
      co_await step(i);
      CHECK(steps.back() == i);
    }
  }());
  CHECK(steps == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("a task that is never awaited runs nothing and frees its arguments when dropped", "[core][task]") {
  int destroyed = 0;
  bool ran = false;
  {
    task<void> t = takes_guard(counted(&destroyed), &ran);
    CHECK(destroyed == 0);  // the frame owns the argument now
  }
  CHECK_FALSE(ran);
  CHECK(destroyed == 1);
}

TEST_CASE("each awaited task resumes its awaiter exactly once", "[core][task]") {
  int resumed = 0;
  run([&]() -> task<void> {
    for (int i = 0; i < 1000; ++i) {
      int v = co_await value_of(i);
      if (v != i) FAIL("wrong value " << v << " for " << i);
      ++resumed;
    }
  }());
  CHECK(resumed == 1000);
}

TEST_CASE("a million-deep chain of awaiting tasks completes without overflowing the stack", "[core][task][deep]") {
  constexpr std::size_t million = 1'000'000;
  CHECK(run(depth(million)) == million);
  std::size_t reached = 0;
  run(count_down(million, &reached));
  CHECK(reached == million);
}

TEST_CASE("a million awaits in a loop of tasks that complete synchronously use constant stack, at any optimisation level",
          "[core][task][deep]") {
  // Each await hands control to the child and back: without a flat resume (or a tail call,
  // which GCC makes only when optimising) every round trip would leave frames on the stack.
  constexpr int million = 1'000'000;
  long long sum = 0;
  run([&]() -> task<void> {
    for (int i = 0; i < million; ++i) sum += co_await value_of(i);
  }());
  CHECK(sum == static_cast<long long>(million) * (million - 1) / 2);
}

TEST_CASE("steady-state spawning of short tasks reuses recycled frames instead of allocating",
          "[core][task][frames]") {
  constexpr int per_round = 1000;
  int finished = 0;
  std::size_t fresh_after_warmup = 0, fresh_at_end = 0;
  run([&]() -> task<void> {
    auto round = [&]() -> task<void> {
      int target = finished + per_round;
      for (int i = 0; i < per_round; ++i) spawn(short_lived(&finished));
      while (finished < target) co_await yield();
    };
    co_await round();
    fresh_after_warmup = detail::frame_stats().fresh_allocations;
    for (int r = 0; r < 20; ++r) co_await round();
    fresh_at_end = detail::frame_stats().fresh_allocations;
  }());
  CHECK(finished == 21 * per_round);
  if constexpr (couring::testing::address_sanitizer) {
    // Recycling is off under AddressSanitizer so that a use after free of a frame is caught.
    CHECK(fresh_at_end > fresh_after_warmup);
  } else {
    CHECK(fresh_at_end == fresh_after_warmup);
    CHECK(detail::frame_stats().reused >= 20u * per_round);
  }
}
