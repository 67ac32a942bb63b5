// Fibers and tasks together: what a fiber returns reaches whoever awaits it, a fiber awaits any
// awaitable (ops, sleep_for, when_any, a channel, a task, another fiber) without blocking the
// thread, and the blocking-style wrappers work from code that knows nothing of couring (C
// callbacks).
#include "fiber_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
using couring::testing::pattern_byte;
using couring::testing::temp_dir;
namespace t = couring::testing;

namespace {

task<int> add_one_in_task(fiber<int>& inner) {
  int v = co_await inner;
  co_return v + 1;
}

task<int> spawn_and_await_fiber(int seed) {
  auto inner = spawn_fiber([seed] {
    auto slept = blocking::sleep_for(1ms);
    if (!slept) throw std::system_error(slept.error());
    return this_fiber::inside() ? seed * 10 : -1;
  });
  int v = co_await inner;
  co_return v + 1;
}

task<void> send_numbers(channel<int>& ch, int count) {
  for (int i = 0; i < count; ++i) {
    auto s = co_await ch.send(i);
    if (!s) co_return;
  }
  ch.close();
}

task<void> count_turns(const bool& stop, int& turns) {
  while (!stop) {
    ++turns;
    co_await yield();
  }
}

task<int> answer_after_yield() {
  co_await yield();
  co_return 42;
}

task<int> failing_task() {
  co_await yield();
  throw std::out_of_range("from the task");
}

}  // namespace

TEST_CASE("a fiber's value reaches the task that awaits it", "[fiber][join]") {
  fd_leak_check leaks;
  run([]() -> task<void> {
    t::fd_pair p = t::pipe_pair();
    int rfd = p.first.get(), wfd = p.second.get();
    CHECK_FALSE(this_fiber::inside());
    auto f = spawn_fiber([rfd, wfd] {
      CHECK(this_fiber::inside());
      std::string msg = "through a pipe";
      auto w = blocking::write_all(wfd, const_buffer_of(msg));
      REQUIRE(w);
      std::array<char, 32> buf{};
      auto r = blocking::read(rfd, buffer(buf));
      REQUIRE(r);
      return std::string(buf.data(), *r);
    });
    CHECK_FALSE(f.done());  // it starts at the loop's next turn
    std::string got = co_await f;
    CHECK(got == "through a pipe");
    CHECK(f.done());
  }());
}

TEST_CASE("a finished fiber is awaited without suspending, and a void fiber can be awaited", "[fiber][join]") {
  run([]() -> task<void> {
    int ran = 0;
    auto f = spawn_fiber([&ran] { ++ran; });
    for (int i = 0; i < 3 && !f.done(); ++i) co_await yield();
    CHECK(f.done());
    CHECK(ran == 1);
    co_await f;
    CHECK(ran == 1);
  }());
}

TEST_CASE("a fiber awaits a task that awaits a fiber", "[fiber][nesting]") {
  run([]() -> task<void> {
    auto outer = spawn_fiber([] {
      // fiber -> task -> fiber, each level adding to what the level below produced.
      int v = this_fiber::await(spawn_and_await_fiber(4));
      CHECK(this_fiber::inside());
      return v * 2;
    });
    int v = co_await outer;
    CHECK(v == (4 * 10 + 1) * 2);

    // The same with the inner fiber spawned by the outer fiber and awaited by a task.
    auto outer2 = spawn_fiber([] {
      auto inner = spawn_fiber([] { return this_fiber::await(answer_after_yield()); });
      return this_fiber::await(add_one_in_task(inner));
    });
    int v2 = co_await outer2;
    CHECK(v2 == 43);
  }());
}

TEST_CASE("a fiber awaits another fiber's value through this_fiber::await", "[fiber][join]") {
  run([]() -> task<void> {
    auto producer = spawn_fiber([] {
      auto r = blocking::sleep_for(2ms);
      REQUIRE(r);
      return std::vector<int>{1, 2, 3};
    });
    auto consumer = spawn_fiber([&producer] {
      std::vector<int> got = this_fiber::await(producer);
      // Awaiting it again once it finished returns at once (the value was moved out, the
      // fiber is still done).
      CHECK(producer.done());
      return std::accumulate(got.begin(), got.end(), 0);
    });
    int sum = co_await consumer;
    CHECK(sum == 6);

    auto quick = spawn_fiber([] { return 5; });
    co_await yield();
    co_await yield();
    CHECK(quick.done());
    auto later = spawn_fiber([&quick] { return this_fiber::await(quick) + 1; });
    int v = co_await later;
    CHECK(v == 6);
  }());
}

TEST_CASE("this_fiber::await on sleep_for suspends the fiber, not the thread", "[fiber][sleep]") {
  run([]() -> task<void> {
    bool stop = false;
    int turns = 0;
    spawn(count_turns(stop, turns));
    auto f = spawn_fiber([&] {
      auto start = std::chrono::steady_clock::now();
      int before = turns;
      auto r = this_fiber::await(sleep_for(20ms));
      auto slept = std::chrono::steady_clock::now() - start;
      CHECK(r);
      CHECK(slept >= 20ms);  // a sleep never ends early
      CHECK(turns > before);  // the task kept running on this thread meanwhile
      stop = true;
    });
    co_await f;
    co_await yield();
    CHECK(turns > 0);
  }());
}

TEST_CASE("a fiber goes on in the loop turn its await completes, as a task does", "[fiber][sleep]") {
  run([]() -> task<void> {
    constexpr std::uint64_t awaits = 1000;
    auto f = spawn_fiber([] {
      runtime* rt = runtime::current();
      const std::uint64_t before = rt->loop().iterations;
      for (std::uint64_t i = 0; i < awaits; ++i) (void)this_fiber::await(yield());
      return rt->loop().iterations - before;
    });
    const std::uint64_t turns = co_await f;
    // One turn per yield, as for a task's co_await yield(). A fiber woken through the ready queue
    // after its await completed would take two, and pay for the extra turn on every await.
    CHECK(turns >= awaits);
    CHECK(turns <= awaits + 2);
  }());
}

TEST_CASE("this_fiber::await on when_any returns the first to finish and cancels the rest", "[fiber][when_any]") {
  fd_leak_check leaks;
  run([]() -> task<void> {
    t::fd_pair p = t::socket_pair();
    int ours = p.first.get(), peer = p.second.get();

    SECTION("the recv wins") {
      auto f = spawn_fiber([ours] {
        std::array<char, 16> buf{};
        auto r = this_fiber::await(when_any(couring::recv(ours, buffer(buf)), sleep_for(1h)));
        REQUIRE(r.index == 0);
        auto& got = std::get<0>(r.value);
        REQUIRE(got);
        return std::string(buf.data(), *got);
      });
      co_await yield();
      auto s = co_await couring::send(peer, const_buffer_of(std::string("ping")));
      REQUIRE(s);
      std::string got = co_await f;
      CHECK(got == "ping");
    }
    SECTION("the sleep wins; the losing recv consumed nothing") {
      auto f = spawn_fiber([ours] {
        std::array<char, 16> buf{};
        auto r = this_fiber::await(when_any(couring::recv(ours, buffer(buf)), sleep_for(5ms)));
        CHECK(r.index == 1);
        CHECK(std::get<1>(r.value));
        return r.index;
      });
      std::size_t winner = co_await f;
      CHECK(winner == 1);
      auto s = co_await couring::send(peer, const_buffer_of(std::string("late")));
      REQUIRE(s);
      CHECK(t::drain(ours) == 4);  // still queued: the cancelled recv took nothing
    }
  }());
}

TEST_CASE("this_fiber::await on a channel receive gets every value in order, then channel_closed", "[fiber][channel]") {
  run([]() -> task<void> {
    channel<int> ch(4);
    const int count = 200;
    auto f = spawn_fiber([&ch] {
      std::vector<int> got;
      for (;;) {
        auto r = this_fiber::await(ch.receive());
        if (!r) {
          CHECK(r.error() == error::channel_closed);
          break;
        }
        got.push_back(*r);
      }
      return got;
    });
    spawn(send_numbers(ch, count));
    std::vector<int> got = co_await f;
    REQUIRE(got.size() == static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) CHECK(got[static_cast<std::size_t>(i)] == i);

    // And the other way: a fiber sends, a task receives (capacity 0: every send waits).
    channel<std::string> rendezvous(0);
    auto sender = spawn_fiber([&rendezvous] {
      for (int i = 0; i < 10; ++i) {
        auto s = this_fiber::await(rendezvous.send(std::to_string(i)));
        REQUIRE(s);
      }
      rendezvous.close();
    });
    std::string joined;
    for (;;) {
      auto r = co_await rendezvous.receive();
      if (!r) break;
      joined += *r;
    }
    co_await sender;
    CHECK(joined == "0123456789");
  }());
}

TEST_CASE("a task's result, void included, comes back from this_fiber::await", "[fiber][task]") {
  run([]() -> task<void> {
    auto f = spawn_fiber([] {
      int v = this_fiber::await(answer_after_yield());
      std::monostate nothing = this_fiber::await(yield());
      (void)nothing;
      auto n = this_fiber::await(couring::nop());
      CHECK(n);
      return v;
    });
    int v = co_await f;
    CHECK(v == 42);
  }());
}

namespace {

task<std::unique_ptr<int>> boxed(int v) {
  co_await yield();
  co_return std::make_unique<int>(v);
}

[[gnu::noinline]] int throw_from_depth(int depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  if (depth == 0) throw std::length_error("from the bottom");
  int below = throw_from_depth(depth - 1);
  frame[1] = static_cast<char>(below);  // used after the call: every frame stays on the stack
  return below + frame[0];
}

}  // namespace

TEST_CASE("move-only values pass out of fibers and into them", "[fiber][join]") {
  run([]() -> task<void> {
    auto f = spawn_fiber([] {
      std::unique_ptr<int> from_task = this_fiber::await(boxed(20));
      return std::make_unique<int>(*from_task + 1);
    });
    std::unique_ptr<int> v = co_await f;
    REQUIRE(v);
    CHECK(*v == 21);
  }());
}

TEST_CASE("this_fiber::await takes an lvalue task, and current_stop_token() is the fiber's token",
          "[fiber][task]") {
  run([]() -> task<void> {
    stop_source src;
    auto f = spawn_fiber(
        [] {
          task<int> t = answer_after_yield();
          int v = this_fiber::await(t);  // an lvalue task (ops are awaited as temporaries: GCC 12
                                         // copies an lvalue awaiter into the frame, and ops are immovable once used)
          auto n = this_fiber::await(couring::nop());
          stop_token seen = this_fiber::await(current_stop_token());
          CHECK(n);
          CHECK(seen.stop_possible());
          CHECK_FALSE(seen.stop_requested());
          CHECK(this_fiber::token().stop_possible());
          return v;
        },
        {.token = src.token()});
    int v = co_await f;
    CHECK(v == 42);
  }());
}

TEST_CASE("an exception thrown 2,000 frames deep in a fiber unwinds to its joiner", "[fiber][exceptions][stack]") {
  run([]() -> task<void> {
    auto f = spawn_fiber([] { return throw_from_depth(2000); }, {.stack_size = 2 * 1024 * 1024});
    std::string what;
    try {
      (void)co_await f;
    } catch (const std::length_error& e) {
      what = e.what();
    }
    CHECK(what == "from the bottom");
    // Caught inside the fiber, after a suspension in the middle of the stack.
    auto g = spawn_fiber(
        [] {
          auto r = blocking::sleep_for(1ms);
          REQUIRE(r);
          try {
            return throw_from_depth(1000);
          } catch (const std::length_error&) {
            return -1;
          }
        },
        {.stack_size = 2 * 1024 * 1024});
    int v = co_await g;
    CHECK(v == -1);
  }());
}

TEST_CASE("exceptions cross between fibers and tasks both ways", "[fiber][exceptions]") {
  run([]() -> task<void> {
    // task -> fiber: this_fiber::await rethrows what the task threw.
    auto catcher = spawn_fiber([] {
      try {
        this_fiber::await(failing_task());
      } catch (const std::out_of_range& e) {
        return std::string(e.what());
      }
      return std::string("nothing thrown");
    });
    std::string what = co_await catcher;
    CHECK(what == "from the task");

    // fiber -> task: co_await rethrows what the fiber threw, type preserved.
    auto thrower = spawn_fiber([]() -> int {
      auto r = blocking::sleep_for(1ms);
      REQUIRE(r);
      throw std::invalid_argument("from the fiber");
    });
    bool caught = false;
    try {
      (void)co_await thrower;
    } catch (const std::invalid_argument& e) {
      caught = std::string(e.what()) == "from the fiber";
    }
    CHECK(caught);

    // task -> fiber -> fiber -> task: a task's exception passes through two fibers untouched.
    auto inner = spawn_fiber([] { return this_fiber::await(failing_task()); });
    auto outer = spawn_fiber([&inner] { return this_fiber::await(inner); });
    bool passed = false;
    try {
      (void)co_await outer;
    } catch (const std::out_of_range& e) {
      passed = std::string(e.what()) == "from the task";
    }
    CHECK(passed);

    // A fiber that throws before its first suspension.
    auto early = spawn_fiber([] { throw std::runtime_error("at once"); });
    bool early_caught = false;
    try {
      co_await early;
    } catch (const std::runtime_error& e) {
      early_caught = std::string(e.what()) == "at once";
    }
    CHECK(early_caught);
  }());
}

TEST_CASE("this_fiber::await, this_fiber::token and spawn_fiber outside their context throw std::logic_error",
          "[fiber][misuse]") {
  CHECK_FALSE(this_fiber::inside());
  CHECK_THROWS_AS(this_fiber::await(couring::nop()), std::logic_error);
  CHECK_THROWS_AS(this_fiber::token(), std::logic_error);
  CHECK_THROWS_AS(blocking::sleep_for(1ms), std::logic_error);
  CHECK_THROWS_AS(spawn_fiber([] { return 1; }), std::logic_error);  // no runtime on this thread
  run([]() -> task<void> {
    // Inside a task (a runtime thread, but no fiber): still a logic error, not a hang.
    bool await_threw = false, token_threw = false, wrapper_threw = false;
    try {
      auto r = this_fiber::await(couring::nop());
      (void)r;
    } catch (const std::logic_error&) {
      await_threw = true;
    }
    try {
      (void)this_fiber::token();
    } catch (const std::logic_error&) {
      token_threw = true;
    }
    std::array<char, 4> buf{};
    try {
      (void)blocking::read(0, buffer(buf));
    } catch (const std::logic_error&) {
      wrapper_threw = true;
    }
    CHECK(await_threw);
    CHECK(token_threw);
    CHECK(wrapper_threw);
    co_return;
  }());
}

// ---- legacy code that takes C callbacks -------------------------------------------------------

namespace {

// What the nftw callback needs: nftw passes no user pointer, so it lives in a global, as it
// would in the C code this stands for.
struct walk_state {
  std::size_t files = 0;
  std::size_t bytes = 0;
  std::size_t bad_bytes = 0;
  std::size_t failures = 0;
  bool inside_callback = false;
};
walk_state* current_walk = nullptr;

extern "C" int read_each_file(const char* path, const struct stat* st, int type, struct FTW*) {
  if (type != FTW_F) return 0;
  walk_state& w = *current_walk;
  w.inside_callback = true;
  auto f = blocking::open(path, O_RDONLY);
  if (!f) {
    ++w.failures;
    return 1;  // stops the walk
  }
  std::vector<std::uint8_t> data(static_cast<std::size_t>(st->st_size));
  auto r = blocking::read_exactly(f->fd(), buffer(data), 0);
  if (!r) ++w.failures;
  for (std::size_t i = 0; i < data.size(); ++i)
    if (data[i] != pattern_byte(i)) ++w.bad_bytes;
  auto c = blocking::close(f->release().release());
  if (!c) ++w.failures;
  ++w.files;
  w.bytes += data.size();
  w.inside_callback = false;
  return 0;
}

struct sort_state {
  int fd = -1;
  std::size_t reads = 0;
  std::size_t failures = 0;
};
sort_state* current_sort = nullptr;

// qsort comparator: each key is an offset into a file; the order is that of the bytes there,
// read through couring while libc's qsort frames sit on the fiber's stack.
extern "C" int compare_by_file_byte(const void* a, const void* b) {
  auto key = [](const void* p) {
    std::uint8_t byte = 0;
    auto r = blocking::read_at(current_sort->fd, buffer(&byte, 1), *static_cast<const std::int64_t*>(p));
    ++current_sort->reads;
    if (!r || *r != 1) ++current_sort->failures;
    return byte;
  };
  std::uint8_t x = key(a), y = key(b);
  return x < y ? -1 : (x > y ? 1 : 0);
}

task<void> watch_flag(const bool& stop, const bool& flag, int& seen) {
  while (!stop) {
    if (flag) ++seen;
    co_await yield();
  }
}

}  // namespace

TEST_CASE("blocking wrappers work from a C callback that runs inside a fiber (nftw)", "[fiber][blocking][legacy]") {
  temp_dir dir;
  const std::size_t files = 12;
  std::size_t expected_bytes = 0;
  for (std::size_t i = 0; i < files; ++i) {
    std::size_t size = 1000 + i * 777;
    dir.make_pattern_file("f" + std::to_string(i), size);
    expected_bytes += size;
  }
  fd_leak_check leaks;
  walk_state w;
  current_walk = &w;
  run([&]() -> task<void> {
    bool stop = false;
    int seen_inside = 0;
    spawn(watch_flag(stop, w.inside_callback, seen_inside));
    auto f = spawn_fiber([&] { return ::nftw(dir.path().c_str(), read_each_file, 8, FTW_PHYS); }, {.stack_size = 256 * 1024});
    int rc = co_await f;
    stop = true;
    co_await yield();
    CHECK(rc == 0);
    // The loop kept running other work while the fiber was suspended inside the C callback.
    CHECK(seen_inside > 0);
  }());
  current_walk = nullptr;
  CHECK(w.failures == 0);
  CHECK(w.files == files);
  CHECK(w.bytes == expected_bytes);
  CHECK(w.bad_bytes == 0);
}

TEST_CASE("blocking wrappers work from a qsort comparator inside a fiber", "[fiber][blocking][legacy]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("keys", 4096);
  auto fd = unique_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  sort_state s;
  s.fd = fd.get();
  current_sort = &s;
  std::vector<std::int64_t> offsets(300);
  for (std::size_t i = 0; i < offsets.size(); ++i) offsets[i] = static_cast<std::int64_t>((i * 2654435761u) % 4096);
  run([&]() -> task<void> {
    auto f = spawn_fiber([&] { std::qsort(offsets.data(), offsets.size(), sizeof offsets[0], compare_by_file_byte); });
    co_await f;
  }());
  current_sort = nullptr;
  CHECK(s.failures == 0);
  CHECK(s.reads > offsets.size());
  for (std::size_t i = 1; i < offsets.size(); ++i)
    CHECK(pattern_byte(static_cast<std::uint64_t>(offsets[i - 1])) <= pattern_byte(static_cast<std::uint64_t>(offsets[i])));
}

TEST_CASE("blocking wrappers carry a TCP conversation between two fibers", "[fiber][blocking][socket]") {
  fd_leak_check leaks;
  run([]() -> task<void> {
    auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(listener);
    auto at = listener->local_endpoint();
    REQUIRE(at);
    const tcp_listener& l = *listener;
    auto server = spawn_fiber([&l] {
      auto conn = blocking::accept(l);
      REQUIRE(conn);
      std::array<char, 5> hello{};
      auto r = blocking::recv_exactly(conn->fd(), buffer(hello));
      REQUIRE(r);
      std::string reply = std::string(hello.data(), hello.size()) + ", fiber";
      auto s = blocking::send_all(conn->fd(), const_buffer_of(reply));
      REQUIRE(s);
      return blocking::close(conn->release().release()).has_value();
    });
    endpoint to = *at;
    auto client = spawn_fiber([to] {
      auto conn = blocking::connect(to);
      REQUIRE(conn);
      auto s = blocking::send(conn->fd(), const_buffer_of(std::string("hello")));
      REQUIRE(s);
      CHECK(*s == 5);
      std::string got;
      std::array<char, 64> buf{};
      for (;;) {
        auto r = blocking::recv(conn->fd(), buffer(buf));
        REQUIRE(r);
        if (*r == 0) break;
        got.append(buf.data(), *r);
      }
      return got;
    });
    std::string got = co_await client;
    bool closed = co_await server;
    CHECK(got == "hello, fiber");
    CHECK(closed);
  }());
}

TEST_CASE("blocking file wrappers write and read back at offsets and at the file position", "[fiber][blocking][file]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("data");
  run([&]() -> task<void> {
    auto f = spawn_fiber([&] {
      auto file = blocking::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
      REQUIRE(file);
      auto w1 = blocking::write(file->fd(), const_buffer_of(std::string("abc")));
      auto w2 = blocking::write_at(file->fd(), const_buffer_of(std::string("XYZ")), 10);
      auto w3 = blocking::write_all(file->fd(), const_buffer_of(std::string("def")));
      REQUIRE(w1);
      REQUIRE(w2);
      REQUIRE(w3);
      CHECK(*w1 == 3);
      CHECK(*w2 == 3);
      std::array<char, 3> at10{};
      auto r1 = blocking::read_at(file->fd(), buffer(at10), 10);
      REQUIRE(r1);
      CHECK(std::string(at10.data(), *r1) == "XYZ");
      std::array<char, 6> head{};
      auto r2 = blocking::read_exactly(file->fd(), buffer(head), 0);
      REQUIRE(r2);
      CHECK(std::string(head.data(), head.size()) == "abcdef");
      return blocking::close(file->release().release()).has_value();
    });
    bool closed = co_await f;
    CHECK(closed);
  }());
  CHECK(t::slurp(path) == std::string("abcdef\0\0\0\0XYZ", 13));
}
