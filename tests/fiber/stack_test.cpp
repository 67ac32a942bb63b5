// Fiber stacks: as large as asked for (deep recursion that suspends at the bottom), guarded (an
// overflow is a clean crash with a message, checked in a child process), and pooled per thread
// (short fibers in sequence reuse the same few mappings instead of mapping new ones).
#include "fiber_support.hpp"
#include "huge_frame.hpp"

#include <catch2/catch.hpp>

#include <alloca.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
namespace t = couring::testing;

namespace {

constexpr std::size_t one_mib = 1024 * 1024;
constexpr std::size_t frame_bytes = 512;

struct recursion {
  const char* top = nullptr;      // an address near the fiber's entry
  std::size_t deepest_use = 0;    // bytes between `top` and the deepest frame
  std::size_t target = 0;         // recurse until this much stack is in use
  std::size_t depth = 0;
  bool suspended_at_bottom = false;
};

// Fills a frame-local buffer with a pattern of its depth, recurses until `target` bytes of stack
// are in use, suspends the fiber there (other fibers and tasks run on this thread meanwhile),
// then checks on the way back that no frame was disturbed. Returns the number of bad bytes.
[[gnu::noinline]] std::size_t descend(recursion& r, std::size_t depth) {
  volatile unsigned char local[frame_bytes];
  for (std::size_t i = 0; i < frame_bytes; ++i) local[i] = static_cast<unsigned char>(depth * 31 + i);
  const auto used = reinterpret_cast<std::uintptr_t>(r.top) - reinterpret_cast<std::uintptr_t>(&local[0]);
  std::size_t bad = 0;
  if (used < r.target) {
    bad = descend(r, depth + 1);
  } else {
    r.deepest_use = used;
    r.depth = depth;
    auto slept = blocking::sleep_for(1ms);
    auto yielded = this_fiber::await(yield());
    (void)yielded;
    r.suspended_at_bottom = slept.has_value();
  }
  for (std::size_t i = 0; i < frame_bytes; ++i)
    if (local[i] != static_cast<unsigned char>(depth * 31 + i)) ++bad;
  return bad;
}

// Recurses with no end in sight: 1 KiB a frame, far past any stack given to it.
[[gnu::noinline]] std::size_t overflow(std::size_t depth, std::size_t limit) {
  volatile char local[1024];
  local[0] = static_cast<char>(depth);
  local[1023] = static_cast<char>(depth >> 8);
  if (depth >= limit) return static_cast<std::size_t>(local[0]);
  std::size_t below = overflow(depth + 1, limit);
  local[1] = static_cast<char>(below);  // used after the call: no tail call, every frame stays
  return below + static_cast<std::size_t>(local[1023]);
}

// In a death child: the crash it exists for leaves no core file behind.
void expect_crash() {
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
}

task<void> keep_busy(const bool& stop, std::size_t& turns) {
  while (!stop) {
    ++turns;
    co_await yield();
  }
}

}  // namespace

TEST_CASE("a fiber with a big enough stack recurses through 1 MiB of stack and suspends at the bottom",
          "[fiber][stack]") {
  recursion r;
  r.target = one_mib;
  std::size_t bad = 1;
  std::size_t busy_turns_during = 0;
  run([&]() -> task<void> {
    bool stop = false;
    std::size_t turns = 0;
    spawn(keep_busy(stop, turns));
    // Under ASan frames carry redzones; the stack is sized for that.
    const std::size_t stack = t::under_asan() ? 8 * one_mib : 2 * one_mib;
    auto f = spawn_fiber(
        [&] {
          char anchor = 0;
          r.top = &anchor;
          std::size_t before = turns;
          std::size_t result = descend(r, 0);
          busy_turns_during = turns - before;
          return result;
        },
        {.stack_size = stack});
    bad = co_await f;
    stop = true;
    co_await yield();
  }());
  CHECK(bad == 0);
  CHECK(r.deepest_use >= one_mib);
  CHECK(r.depth >= one_mib / (frame_bytes + 64) / 2);  // many frames, not one big one
  CHECK(r.suspended_at_bottom);
  CHECK(busy_turns_during > 0);  // the thread ran other work while the deep stack was parked
}

TEST_CASE("death child: a fiber overflows its stack", "[.][fiber-overflow-child]") {
  expect_crash();
  run([]() -> task<void> {
    auto f = spawn_fiber([] {
      std::fprintf(stderr, "overflow child: recursing\n");
      std::fflush(stderr);
      return overflow(0, std::size_t{1} << 30);
    });
    std::size_t v = co_await f;
    std::fprintf(stderr, "overflow child: survived (%zu)\n", v);
  }());
  std::fprintf(stderr, "overflow child: run() returned\n");
}

TEST_CASE("a stack overflow in a fiber hits the guard page: a clean crash with a message", "[fiber][stack][death]") {
  t::child_outcome c = t::run_self({"[fiber-overflow-child]"});
  INFO("child stderr:\n" << c.err);
  // The child got as far as the recursion, and never past it.
  CHECK(c.err.find("overflow child: recursing") != std::string::npos);
  CHECK(c.err.find("survived") == std::string::npos);
  CHECK(c.err.find("run() returned") == std::string::npos);
  const bool ours = c.err.find("couring: fiber stack overflow") != std::string::npos;
  if (t::under_asan() && !ours) {
    // ASan may see the overflow first and report it its own way; it must still be a crash
    // that says what happened.
    CHECK(c.err.find("AddressSanitizer") != std::string::npos);
    CHECK(c.err.find("stack-overflow") != std::string::npos);
    CHECK((c.signaled || (c.exited && c.exit_code != 0)));
  } else {
    CHECK(ours);
    CHECK(c.err.find("fiber_options::stack_size") != std::string::npos);
    CHECK(c.signaled);
    CHECK(c.signal == SIGABRT);
  }
}

namespace {

// The stack size the big-frame child gives both of its fibers (the minimum under ASan is larger).
std::size_t neighbour_stack() { return t::under_asan() ? 256 * 1024 : 64 * 1024; }

// A frame larger than the whole stack, as a 64 KiB buffer on a 64 KiB stack makes: the stack
// pointer moves past the guard page in one step, and the first write lands below it.
[[gnu::noinline]] void big_frame(std::size_t bytes) {
  auto* p = static_cast<volatile unsigned char*>(alloca(bytes));
  for (std::size_t i = 0; i < 16 * 1024; ++i) p[i] = 0x5a;  // its lowest 16 KiB, farthest from the frame
  std::fprintf(stderr, "big frame child: wrote below the stack (%p)\n", static_cast<volatile void*>(p));
}

}  // namespace

TEST_CASE("death child: a big frame overflows a fiber's stack next to another fiber's", "[.][fiber-big-frame-child]") {
  expect_crash();
  run([]() -> task<void> {
    const std::size_t stack = neighbour_stack();
    bool neighbour_ready = false, overflowed = false;
    // `upper` is mapped first, so `lower` usually lands right below upper's guard page.
    auto upper = spawn_fiber(
        [&] {
          while (!neighbour_ready) (void)this_fiber::await(yield());
          std::fprintf(stderr, "big frame child: overflowing\n");
          big_frame(stack + 32 * 1024);
          overflowed = true;
        },
        {.stack_size = stack});
    auto lower = spawn_fiber(
        [&] {
          // Its own data, deep in its stack: what a silent overflow from above would overwrite.
          auto* mine = static_cast<volatile unsigned char*>(alloca(stack - 16 * 1024));
          for (std::size_t i = 0; i < stack - 16 * 1024; ++i) mine[i] = 0x11;
          neighbour_ready = true;
          while (!overflowed) (void)this_fiber::await(yield());
          std::size_t changed = 0;
          for (std::size_t i = 0; i < stack - 16 * 1024; ++i) changed += mine[i] != 0x11;
          std::fprintf(stderr, "big frame child: survived; %zu bytes of the neighbour's stack changed\n", changed);
        },
        {.stack_size = stack});
    co_await upper;
    co_await lower;
  }());
  std::fprintf(stderr, "big frame child: run() returned\n");
}

TEST_CASE("a frame larger than the stack still ends in a clean crash, never in a neighbour's stack",
          "[fiber][stack][death]") {
  t::child_outcome c = t::run_self({"[fiber-big-frame-child]"});
  INFO("child stderr:\n" << c.err);
  CHECK(c.err.find("big frame child: overflowing") != std::string::npos);
  CHECK(c.err.find("wrote below the stack") == std::string::npos);
  CHECK(c.err.find("survived") == std::string::npos);
  CHECK(c.err.find("run() returned") == std::string::npos);
  CHECK(c.err.find("couring: fiber stack overflow") != std::string::npos);
  CHECK(c.signaled);
  CHECK(c.signal == SIGABRT);
}

TEST_CASE("death child: a 1 MiB frame built with stack-clash protection", "[.][fiber-huge-frame-child]") {
  expect_crash();
  run([]() -> task<void> {
    auto f = spawn_fiber([] {
      std::fprintf(stderr, "huge frame child: calling\n");
      std::size_t v = t::huge_frame(7);
      std::fprintf(stderr, "huge frame child: survived (%zu)\n", v);
    });
    co_await f;
  }());
  std::fprintf(stderr, "huge frame child: run() returned\n");
}

TEST_CASE("code built with -fstack-clash-protection overflows into the guard area whatever its frame size",
          "[fiber][stack][death]") {
  t::child_outcome c = t::run_self({"[fiber-huge-frame-child]"});
  INFO("child stderr:\n" << c.err);
  CHECK(c.err.find("huge frame child: calling") != std::string::npos);
  CHECK(c.err.find("survived") == std::string::npos);
  CHECK(c.err.find("run() returned") == std::string::npos);
  CHECK(c.err.find("couring: fiber stack overflow") != std::string::npos);
  CHECK(c.signaled);
  CHECK(c.signal == SIGABRT);
}

TEST_CASE("death child: a fiber dereferences a wild pointer", "[.][fiber-wild-pointer-child]") {
  expect_crash();
  run([]() -> task<void> {
    auto f = spawn_fiber([] {
      std::fprintf(stderr, "wild pointer child: writing\n");
      volatile std::uintptr_t address = 16;  // read at run time: the compiler cannot see it coming
      auto* wild = reinterpret_cast<volatile int*>(static_cast<std::uintptr_t>(address));
      *wild = 1;
      std::fprintf(stderr, "wild pointer child: survived\n");
    });
    co_await f;
  }());
}

TEST_CASE("a fault in a fiber that is not a stack overflow is not reported as one", "[fiber][stack][death]") {
  t::child_outcome c = t::run_self({"[fiber-wild-pointer-child]"});
  INFO("child stderr:\n" << c.err);
  CHECK(c.err.find("wild pointer child: writing") != std::string::npos);
  CHECK(c.err.find("survived") == std::string::npos);
  CHECK(c.err.find("fiber stack overflow") == std::string::npos);
  if (t::under_asan()) {
    CHECK(c.err.find("AddressSanitizer: SEGV") != std::string::npos);
    CHECK((c.signaled || (c.exited && c.exit_code != 0)));
  } else {
    CHECK(c.signaled);
    CHECK(c.signal == SIGSEGV);
  }
}

namespace {

task<std::size_t> overflow_here() {
  auto f = spawn_fiber([] {
    std::fprintf(stderr, "shard overflow child: recursing on shard %u\n", this_shard());
    return overflow(0, std::size_t{1} << 30);
  });
  co_return co_await f;
}

}  // namespace

TEST_CASE("death child: a fiber on shard 1 overflows its stack", "[.][fiber-shard-overflow-child]") {
  expect_crash();
  runtime_config two;
  two.shards = 2;
  run(
      []() -> task<void> {
        std::size_t v = co_await on_shard(1, [] { return overflow_here(); });
        std::fprintf(stderr, "shard overflow child: survived (%zu)\n", v);
      }(),
      two);
}

TEST_CASE("a stack overflow on another shard's thread is the same clean crash with a message",
          "[fiber][stack][death][shards]") {
  t::child_outcome c = t::run_self({"[fiber-shard-overflow-child]"});
  INFO("child stderr:\n" << c.err);
  CHECK(c.err.find("shard overflow child: recursing on shard 1") != std::string::npos);
  CHECK(c.err.find("survived") == std::string::npos);
  CHECK(c.err.find("couring: fiber stack overflow") != std::string::npos);
  CHECK(c.signaled);
  CHECK(c.signal == SIGABRT);
}

TEST_CASE("a fiber's stack is a mapping of the size asked for, with a guard page below it", "[fiber][stack]") {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  // An odd size, so that the stack comes from a fresh mapping; it is rounded up to whole pages.
  const std::size_t asked = 300 * 1024 + 123;
  const char* where = nullptr;
  run([&]() -> task<void> {
    auto f = spawn_fiber(
        [&] {
          char local = 0;
          where = &local;
          auto r = this_fiber::await(yield());
          (void)r;
        },
        {.stack_size = asked});
    co_await f;
  }());
  std::vector<t::mapping> maps = t::memory_maps();
  const t::mapping* stack = t::mapping_of(maps, where);
  REQUIRE(stack);  // still mapped: the stack went back to the pool, not to the kernel
  CHECK(stack->perms.substr(0, 2) == "rw");
  CHECK(stack->end - stack->start == (asked + page - 1) / page * page);
  const t::mapping* guard = t::mapping_below(maps, *stack);
  REQUIRE(guard);
  CHECK(guard->perms.substr(0, 3) == "---");
  CHECK(guard->end - guard->start >= std::max<std::size_t>(page, 64 * 1024));  // 64 KiB: big frames hit it too
}

TEST_CASE("stacks are pooled per thread: short fibers in sequence reuse them instead of mapping new ones",
          "[fiber][stack][pool]") {
  const std::size_t stack = 320 * 1024;  // this test's own size, so only its stacks are compared
  const std::size_t batch = 16;
  const std::size_t rounds = t::scaled(200, 4);
  const std::size_t sequential = t::scaled(3000, 4);

  std::vector<std::vector<const char*>> seen(rounds);  // per round, a local's address in each fiber
  std::vector<const char*> seen_sequential;
  std::size_t maps_after_first_round = 0, maps_after_all = 0;
  std::set<std::uintptr_t> first_round, all_rounds;
  std::size_t first_round_mapped = 0;

  run([&]() -> task<void> {
    for (std::size_t round = 0; round < rounds; ++round) {
      std::vector<fiber<void>> fs;
      for (std::size_t i = 0; i < batch; ++i) {
        fs.push_back(spawn_fiber(
            [&seen, round] {
              char local = 0;
              seen[round].push_back(&local);
              auto r = this_fiber::await(yield());  // all of the batch are alive together
              (void)r;
            },
            {.stack_size = stack}));
      }
      for (auto& f : fs) co_await f;
      if (round == 0) {
        // Resolved now, while this round's fibers are gone: a pooled stack stays mapped.
        std::vector<t::mapping> maps = t::memory_maps();
        maps_after_first_round = maps.size();
        for (const char* p : seen[0]) {
          if (const t::mapping* m = t::mapping_of(maps, p)) {
            ++first_round_mapped;
            first_round.insert(m->start);
          }
        }
      }
    }
    for (std::size_t i = 0; i < sequential; ++i) {
      auto f = spawn_fiber(
          [&seen_sequential] {
            char local = 0;
            seen_sequential.push_back(&local);
          },
          {.stack_size = stack});
      co_await f;
    }
  }());

  std::vector<t::mapping> maps = t::memory_maps();
  maps_after_all = maps.size();
  CHECK(first_round_mapped == batch);    // finished fibers' stacks stayed mapped (pooled)...
  CHECK(first_round.size() == batch);    // ...one distinct stack per fiber alive at once
  for (const auto& round : seen) {
    for (const char* p : round) {
      const t::mapping* m = t::mapping_of(maps, p);
      REQUIRE(m);
      all_rounds.insert(m->start);
    }
  }
  std::size_t sequential_outside = 0;
  for (const char* p : seen_sequential) {
    const t::mapping* m = t::mapping_of(maps, p);
    if (!m || !first_round.count(m->start)) ++sequential_outside;
  }
  // Every later round and every sequential fiber ran on the first round's stacks.
  CHECK(all_rounds == first_round);
  CHECK(sequential_outside == 0);
  CHECK(seen_sequential.size() == sequential);
  // And the process has no more mappings than after the first round (a little slack for the
  // allocator's own arenas).
  CHECK(maps_after_all <= maps_after_first_round + 4);
}

TEST_CASE("more fibers alive at once than the pool keeps: the extra stacks are unmapped afterwards",
          "[fiber][stack][pool]") {
  const std::size_t stack = 96 * 1024 + 4096 * 3;  // this test's own size
  const std::size_t alive = 150;                    // more than the pool's 64 per thread
  std::vector<const char*> where;
  run([&]() -> task<void> {
    std::vector<fiber<void>> fs;
    for (std::size_t i = 0; i < alive; ++i) {
      fs.push_back(spawn_fiber(
          [&where] {
            char local = 0;
            where.push_back(&local);
            auto r = this_fiber::await(yield());
            (void)r;
          },
          {.stack_size = t::under_asan() ? stack * 4 : stack}));
    }
    for (auto& f : fs) co_await f;
  }());
  REQUIRE(where.size() == alive);
  std::vector<t::mapping> maps = t::memory_maps();
  std::set<std::uintptr_t> still_mapped;
  for (const char* p : where) {
    if (const t::mapping* m = t::mapping_of(maps, p)) still_mapped.insert(m->start);
  }
  CHECK(still_mapped.size() >= 1);
  CHECK(still_mapped.size() <= 64);
}

TEST_CASE("resident memory stays flat while many short fibers run one after another", "[fiber][stack][pool]") {
  const std::size_t count = t::scaled(20'000, 4);
  std::size_t rss_after_warmup = 0, rss_after = 0;
  std::size_t ran = 0;
  run([&]() -> task<void> {
    auto one = [&ran] {
      // Touches 32 KiB of its stack, as a real fiber would.
      volatile char scratch[32 * 1024];
      for (std::size_t i = 0; i < sizeof scratch; i += 512) scratch[i] = static_cast<char>(i);
      ++ran;
    };
    for (std::size_t i = 0; i < 100; ++i) co_await spawn_fiber(one);
    rss_after_warmup = t::resident_bytes();
    for (std::size_t i = 0; i < count; ++i) co_await spawn_fiber(one);
    rss_after = t::resident_bytes();
  }());
  CHECK(ran == count + 100);
  // A stack that were never given back (or a pool that grew) would stay resident: 32 KiB or more
  // a fiber, 640 MiB for 20,000. 1 MiB of slack covers the allocator; under ASan, its quarantine
  // also keeps every freed heap block (a fiber's bookkeeping) resident for a while, so it gets
  // 1 KiB a fiber more, still a 32nd of what one leaked stack would cost.
  const std::size_t slack = one_mib + (t::under_asan() ? count * 1024 : 0);
  CHECK(rss_after <= rss_after_warmup + slack);
}
