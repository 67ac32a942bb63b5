// Shards: where work runs, what crosses between shards (values, exceptions, a million messages),
// statistics, and what happens to cross-shard work still in flight when run() ends.
#include "sched_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::settle;
using couring::testing::start_here;
using couring::testing::with_shards;

namespace {

// An exception with a payload, to see that what arrives is the very object thrown.
struct remote_failure : std::runtime_error {
  remote_failure(std::string what, unsigned shard_, int code_)
      : std::runtime_error(std::move(what)), shard(shard_), code(code_) {}
  unsigned shard;
  int code;
};

task<int> remote_sum(int a, int b) {
  auto r = co_await couring::nop();  // real I/O on the target shard's backend
  if (!r) throw std::system_error(r.error());
  (void)co_await sleep_for(std::chrono::microseconds(50));
  co_return a + b + static_cast<int>(this_shard()) * 1000;
}

task<int> remote_throw(int code) {
  co_await yield();
  throw remote_failure("thrown on shard " + std::to_string(this_shard()), this_shard(), code);
}

task<std::unique_ptr<std::string>> make_text(std::string s) {
  co_await yield();
  co_return std::make_unique<std::string>(s + " from shard " + std::to_string(this_shard()));
}

}  // namespace

TEST_CASE("this_shard and shard_count name where a task runs", "[sched][shards]") {
  CHECK(this_shard() == 0);  // outside any runtime
  CHECK(shard_count() == 1);
  std::vector<unsigned> where, counts;
  run([&]() -> task<void> {
    for (unsigned k = 0; k < 3; ++k) {
      unsigned w = co_await on_shard(k, [] { return this_shard(); });
      unsigned n = co_await on_shard(k, [] { return shard_count(); });
      where.push_back(w);
      counts.push_back(n);
    }
    CHECK(this_shard() == 0);
    CHECK(runtime::current()->shards() == 3);
  }(), with_shards(3));
  CHECK(where == std::vector<unsigned>{0, 1, 2});
  CHECK(counts == std::vector<unsigned>{3, 3, 3});
}

TEST_CASE("on_shard runs its function on the target shard and resumes the caller on its own", "[sched][shards]") {
  std::thread::id main_thread = std::this_thread::get_id();
  std::thread::id ran_on, resumed_on;
  int value = 0, from_task = 0;
  run([&]() -> task<void> {
    value = co_await on_shard(1, [&] {
      ran_on = std::this_thread::get_id();
      return 41 + 1;
    });
    resumed_on = std::this_thread::get_id();
    from_task = co_await on_shard(1, [] { return remote_sum(2, 3); });
    bool no_such_shard = false;
    try {
      co_await on_shard(7, [] { return 0; });
    } catch (const std::out_of_range&) {
      no_such_shard = true;
    }
    CHECK(no_such_shard);
  }(), with_shards(2));
  CHECK(value == 42);
  CHECK(ran_on != main_thread);
  CHECK(resumed_on == main_thread);
  CHECK(from_task == 1005);
}

TEST_CASE("submit_to returns a task's value, move-only values included", "[sched][shards]") {
  std::string text;
  int sum = 0;
  run([&]() -> task<void> {
    auto p = co_await submit_to(1, make_text("hello"));
    REQUIRE(p);
    text = *p;
    sum = co_await submit_to(0, remote_sum(1, 1));  // the caller's own shard works too
  }(), with_shards(2));
  CHECK(text == "hello from shard 1");
  CHECK(sum == 2);
}

TEST_CASE("exceptions thrown on another shard reach the caller intact", "[sched][shards][exceptions]") {
  std::vector<std::string> messages;
  std::vector<unsigned> shards;
  std::vector<int> codes;
  run([&]() -> task<void> {
    for (int way = 0; way < 3; ++way) {
      try {
        if (way == 0) {
          co_await on_shard(1, []() -> int { throw remote_failure("plain function", this_shard(), 7); });
        } else if (way == 1) {
          co_await on_shard(1, [] { return remote_throw(8); });
        } else {
          co_await submit_to(1, remote_throw(9));
        }
      } catch (const remote_failure& e) {
        messages.push_back(e.what());
        shards.push_back(e.shard);
        codes.push_back(e.code);
      }
    }
  }(), with_shards(2));
  CHECK(messages == std::vector<std::string>{"plain function", "thrown on shard 1", "thrown on shard 1"});
  CHECK(shards == std::vector<unsigned>{1, 1, 1});
  CHECK(codes == std::vector<int>{7, 8, 9});
}

namespace {

task<void> report_home(async_event& done, std::atomic<unsigned>& where) {
  co_await yield();
  where.store(this_shard(), std::memory_order_relaxed);  // the event's hand-off orders it
  done.set();
}

task<void> throw_detached(int code) {
  co_await yield();
  throw remote_failure("detached", this_shard(), code);
}

task<void> set_then_throw(async_event& e) {
  co_await yield();
  e.set();
  throw remote_failure("after set", this_shard(), 3);
}

}  // namespace

TEST_CASE("spawn_on starts a detached task on the target shard", "[sched][shards]") {
  std::atomic<unsigned> where{99};
  run([&]() -> task<void> {
    async_event done;
    spawn_on(1, report_home(done, where));
    auto r = co_await done.wait();
    CHECK(r);
  }(), with_shards(2));
  CHECK(where.load() == 1);
}

TEST_CASE("an exception escaping a spawn_on task ends run() with that exception", "[sched][shards][exceptions]") {
  bool caught = false;
  try {
    run([&]() -> task<void> {
      async_event never;
      spawn_on(1, throw_detached(5));
      auto r = co_await never.wait();  // ended by the remote failure, then destroyed at shutdown
      (void)r;
    }(), with_shards(2));
  } catch (const remote_failure& e) {
    caught = true;
    CHECK(e.code == 5);
    CHECK(e.shard == 1);
  }
  CHECK(caught);
}

TEST_CASE("a configured handler receives a spawn_on task's exception on the target shard",
          "[sched][shards][exceptions]") {
  std::atomic<int> handled{0};
  std::atomic<unsigned> handled_on{99};
  runtime_config config = with_shards(2);
  config.on_unhandled_exception = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const remote_failure&) {
      handled_on.store(this_shard());
      handled.fetch_add(1);
    }
  };
  run([&]() -> task<void> {
    async_event thrown;
    spawn_on(1, set_then_throw(thrown));
    auto r = co_await thrown.wait();
    CHECK(r);
    // The handler runs right after the set, on shard 1: a round trip to shard 1 comes after it.
    co_await on_shard(1, [] {});
  }(), config);
  CHECK(handled.load() == 1);
  CHECK(handled_on.load() == 1);
}

namespace {

// One direction of the million: a single producer, so the consumer must see 0, 1, 2, ... exactly.
task<std::uint64_t> send_sequence(channel<std::uint64_t>& ch, std::uint64_t count) {
  for (std::uint64_t i = 0; i < count; ++i) {
    auto r = co_await ch.send(i);
    if (!r) throw std::system_error(r.error(), "send");
  }
  ch.close();
  co_return count;
}

struct sequence_check {
  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;  // a loss, a duplicate or a reordering shows up here
  unsigned shard = 99;
};

task<sequence_check> receive_sequence(channel<std::uint64_t>& ch) {
  sequence_check c;
  c.shard = this_shard();
  for (;;) {
    auto r = co_await ch.receive();
    if (!r) {
      if (r.error() != error::channel_closed) throw std::system_error(r.error(), "receive");
      break;
    }
    if (*r != c.received) ++c.out_of_order;
    ++c.received;
  }
  co_return c;
}

task<std::pair<std::uint64_t, sequence_check>> shard_1_side(channel<std::uint64_t>& to_1, channel<std::uint64_t>& to_0,
                                                           std::uint64_t count) {
  auto [sent, got] = co_await when_all(send_sequence(to_0, count), receive_sequence(to_1));
  co_return std::pair{sent, got};
}

}  // namespace

TEST_CASE("a million messages cross two shards in both directions, none lost, duplicated or reordered",
          "[sched][shards][channel][million]") {
  constexpr std::uint64_t each_way = 500'000;
  bool msg_ring = GENERATE(true, false);
  CAPTURE(msg_ring);
  sequence_check at_0, at_1;
  std::uint64_t sent_0 = 0, sent_1 = 0;
  std::uint64_t wakeups_0 = 0, wakeups_1 = 0;
  run([&]() -> task<void> {
    channel<std::uint64_t> to_1(256), to_0(256);
    auto remote = on_shard(1, [&] { return shard_1_side(to_1, to_0, each_way); });
    auto [far, sent, got] = co_await when_all(std::move(remote), send_sequence(to_1, each_way), receive_sequence(to_0));
    sent_0 = sent;
    at_0 = got;
    sent_1 = far.first;
    at_1 = far.second;
    wakeups_0 = runtime::current()->loop(0).wakeups;
    wakeups_1 = runtime::current()->loop(1).wakeups;
  }(), with_shards(2, msg_ring));
  CHECK(sent_0 == each_way);
  CHECK(sent_1 == each_way);
  CHECK(at_0.shard == 0);
  CHECK(at_1.shard == 1);
  CHECK(at_0.received == each_way);
  CHECK(at_1.received == each_way);
  CHECK(at_0.out_of_order == 0);
  CHECK(at_1.out_of_order == 0);
  // A burst costs one wakeup: far fewer wakeups than messages.
  CHECK(wakeups_0 + wakeups_1 < 2 * each_way);
}

namespace {

task<std::uint64_t> call_many(unsigned target, int calls) {
  std::uint64_t sum = 0;
  for (int i = 0; i < calls; ++i) {
    int v = co_await on_shard(target, [i] { return i; });
    sum += static_cast<std::uint64_t>(v);
  }
  co_return sum;
}

}  // namespace

TEST_CASE("two shards calling each other at the same time get every answer", "[sched][shards]") {
  constexpr int calls = 5000;
  std::uint64_t from_0 = 0, from_1 = 0;
  run([&]() -> task<void> {
    auto remote = on_shard(1, [] { return call_many(0, calls); });
    auto [a, b] = co_await when_all(std::move(remote), call_many(1, calls));
    from_1 = a;
    from_0 = b;
  }(), with_shards(2));
  std::uint64_t expected = static_cast<std::uint64_t>(calls) * (calls - 1) / 2;
  CHECK(from_0 == expected);
  CHECK(from_1 == expected);
}

namespace {

task<int> wait_for_event(async_event& e) {
  auto r = co_await e.wait();
  co_return r ? 0 : static_cast<int>(r.error().value());
}

task<void> cancel_after(stop_source& s, int rounds) {
  co_await settle(rounds);
  s.request_stop();
}

}  // namespace

TEST_CASE("cancelling an on_shard caller cancels the remote work, whose waits end with operation_canceled",
          "[sched][shards][cancel]") {
  bool canceled_caller = false;
  int remote_outcome = -1;
  run([&]() -> task<void> {
    async_event never;
    stop_source s;
    auto t = [](async_event& e, int& out) -> task<void> {
      out = co_await on_shard(1, [&e] { return wait_for_event(e); });
    };
    // The remote wait observes the caller's cancellation and returns normally: its value arrives.
    co_await when_all(t(never, remote_outcome).with_token(s.token()), cancel_after(s, 5));
    canceled_caller = s.stop_requested();
  }(), with_shards(2));
  CHECK(canceled_caller);
  CHECK(remote_outcome == static_cast<int>(std::errc::operation_canceled));
}

namespace {

// Counts live frames of the shutdown test: every one must be destroyed by the time run() returns.
std::atomic<int> live_frames{0};
struct frame_counter {
  frame_counter() { live_frames.fetch_add(1, std::memory_order_relaxed); }
  ~frame_counter() { live_frames.fetch_sub(1, std::memory_order_relaxed); }
  frame_counter(const frame_counter&) = delete;
  frame_counter& operator=(const frame_counter&) = delete;
};

task<int> wait_forever(async_event& e) {
  frame_counter c;
  auto r = co_await e.wait();
  co_return r ? 1 : 0;
}

task<void> call_and_wait(unsigned target, async_event& e) {
  frame_counter c;
  int v = co_await on_shard(target, [&e] { return wait_forever(e); });
  (void)v;
}

task<void> receive_forever(channel<int>& ch) {
  frame_counter c;
  auto r = co_await ch.receive();
  (void)r;
}

task<void> send_forever(channel<int>& ch) {
  frame_counter c;
  for (int i = 0;; ++i) {
    auto r = co_await ch.send(i);
    if (!r) co_return;
  }
}

task<void> hold_lock_forever(async_mutex& m, async_event& e) {
  frame_counter c;
  auto g = co_await m.scoped_lock();
  auto r = co_await e.wait();
  (void)r;
}

task<void> lock_forever(async_mutex& m) {
  frame_counter c;
  auto g = co_await m.scoped_lock();
}

// Two tasks that only talk to each other through channels, forever: shutdown must still end.
task<void> ping_forever(channel<int>& in, channel<int>& out) {
  frame_counter c;
  for (;;) {
    auto s = co_await out.send(1);
    if (!s) co_return;
    auto r = co_await in.receive();
    if (!r) co_return;
  }
}

struct shutdown_world {
  async_event never;
  channel<int> idle{4};
  channel<int> full{1};
  channel<int> ping{1}, pong{1};
  channel<int> local_ping{1}, local_pong{1};
  async_mutex lock;
};

task<void> start_shard_1_side(shutdown_world& w) {
  spawn(call_and_wait(0, w.never));
  spawn(receive_forever(w.idle));
  spawn(send_forever(w.full));
  spawn(lock_forever(w.lock));
  spawn(ping_forever(w.pong, w.ping));
  co_await settle();
}

}  // namespace

TEST_CASE("run() ends with cross-shard calls, channel and lock waits in flight; every frame is destroyed",
          "[sched][shards][shutdown]") {
  fd_leak_check fds;
  std::size_t threads_before = couring::testing::thread_count();
  // The primitives outlive the runtime, as their waiters must not outlive them.
  auto world = std::make_unique<shutdown_world>();
  run([&]() -> task<void> {
    shutdown_world& w = *world;
    spawn(call_and_wait(1, w.never));
    spawn(receive_forever(w.idle));
    spawn(send_forever(w.full));
    spawn(hold_lock_forever(w.lock, w.never));
    spawn(ping_forever(w.ping, w.pong));
    // These two keep shard 0's ready queue busy forever: only freezing their waits stops them.
    spawn(ping_forever(w.local_ping, w.local_pong));
    spawn(ping_forever(w.local_pong, w.local_ping));
    co_await on_shard(1, [&w] { return start_shard_1_side(w); });
    co_await settle();
    CHECK(live_frames.load() >= 10);
    co_return;  // leaves all of that running
  }(), with_shards(2));
  CHECK(live_frames.load() == 0);
  CHECK(couring::testing::thread_count() <= threads_before + 1);
  CHECK_FALSE(world->lock.is_locked());  // the holder's guard unlocked as its frame was destroyed
}

TEST_CASE("runtime::stop() from another thread ends run() while shards wait on each other",
          "[sched][shards][shutdown]") {
  runtime rt(with_shards(2));
  async_event never;
  std::atomic<bool> waiting{false};
  std::thread stopper;
  bool stopped = false;
  try {
    rt.run([&]() -> task<void> {
      waiting.store(true);
      stopper = std::thread([&] {
        while (!waiting.load()) std::this_thread::yield();
        rt.stop();
      });
      auto r = co_await on_shard(1, [&] { return wait_for_event(never); });
      (void)r;
    }());
  } catch (const std::system_error& e) {
    stopped = e.code() == std::errc::operation_canceled;
  }
  stopper.join();
  CHECK(stopped);
}

namespace {

task<void> nops(int n) {
  for (int i = 0; i < n; ++i) {
    auto r = co_await couring::nop();
    if (!r) throw std::system_error(r.error());
  }
}

}  // namespace

TEST_CASE("per-shard statistics are readable from a task and count what each shard submitted",
          "[sched][shards][stats]") {
  const std::size_t nop_kind = request(nop_req{}).index();
  std::uint64_t submitted_0 = 0, submitted_1 = 0, completed_0 = 0, completed_1 = 0;
  std::string printed;
  run([&]() -> task<void> {
    runtime* rt = runtime::current();
    REQUIRE(rt != nullptr);
    backend_stats before_0 = rt->stats(0), before_1 = rt->stats(1);
    co_await nops(30);
    co_await on_shard(1, [] { return nops(70); });
    backend_stats after_0 = rt->stats(0), after_1 = rt->stats(1);
    submitted_0 = after_0.submitted[nop_kind] - before_0.submitted[nop_kind];
    submitted_1 = after_1.submitted[nop_kind] - before_1.submitted[nop_kind];
    completed_0 = after_0.completed[nop_kind] - before_0.completed[nop_kind];
    completed_1 = after_1.completed[nop_kind] - before_1.completed[nop_kind];
    CHECK(rt->loop(0).ops_in_flight == 0);
    CHECK_THROWS_AS(rt->stats(2), std::out_of_range);
    printed = rt->format_stats();
  }(), with_shards(2));
  CHECK(submitted_0 == 30);
  CHECK(submitted_1 == 70);
  CHECK(completed_0 == 30);
  CHECK(completed_1 == 70);
  CHECK(printed.find("shard 0:") != std::string::npos);
  CHECK(printed.find("shard 1:") != std::string::npos);
  CHECK(printed.find("nop") != std::string::npos);
}

TEST_CASE("runtimes with several shards start and stop cleanly, many times over", "[sched][shards][shutdown]") {
  // Stopping wakes each sleeping shard with an "exit" message; the shard may run it and tear down
  // while the waker is still inside post_remote(). (Under TSan this caught the teardown race.)
  fd_leak_check fds;
  std::size_t threads_before = couring::testing::thread_count();
  int answers = 0;
  for (int i = 0; i < 20; ++i) {
    int v = run([]() -> task<int> {
      int a = co_await on_shard(2, [] { return 3; });
      int b = co_await on_shard(1, [] { return 4; });
      co_return a + b;
    }(), with_shards(3, i % 2 == 0));
    if (v == 7) ++answers;
  }
  CHECK(answers == 20);
  CHECK(couring::testing::thread_count() == threads_before);
}
