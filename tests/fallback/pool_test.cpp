// The worker pool's POSIX-AIO semantics: cancel outcomes (AIO_CANCELED, AIO_NOTCANCELED,
// AIO_ALLDONE), priorities, back-pressure, a fixed worker count, and the loop's timers.
// These hold wherever a worker runs the op: on the thread-pool backend and on io_uring with every
// request kind emulated. The config below asks for both; COURING_BACKEND picks one (meson runs both).
//
// A worker is kept busy on purpose by a recv with MSG_WAITALL (worker_blocker): with one worker,
// everything submitted after it waits in the queue, in a known order, until the test releases it.
#include "fallback_support.hpp"
#include "pool_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace couring;
using couring::testing::counter;
using couring::testing::hold;
using couring::testing::op_record;
using couring::testing::pattern_byte;
using couring::testing::pattern_file;
using couring::testing::pool_config;
using couring::testing::read_into;
using couring::testing::record;
using couring::testing::record_options;
using couring::testing::worker_blocker;

namespace {


record_options with_token(stop_token t) {
  record_options o;
  o.token = std::move(t);
  return o;
}

record_options in_order(std::vector<int>& order, int id, std::optional<io_priority> p = std::nullopt) {
  record_options o;
  o.order = &order;
  o.id = id;
  o.priority = p;
  return o;
}

bool untouched(const char* buf, std::size_t len) {
  return std::all_of(buf, buf + len, [](char c) { return c == '#'; });
}

}  // namespace

TEST_CASE("an op cancelled while it waits in the queue completes with operation_canceled and never runs",
          "[fallback][pool][cancel]") {
  pattern_file file;
  worker_blocker blocker;
  op_record held, queued;
  counter done;
  std::array<char, 64> buf;
  buf.fill('#');
  run([&]() -> task<void> {
    stop_source src;
    spawn(record(hold(blocker), {}, &held, &done));
    spawn(record(read_into(file.fd.get(), buf.data(), buf.size(), 0), with_token(src.token()), &queued, &done));
    co_await yield();  // both submitted; the single worker takes the first, the read waits behind it
    src.request_stop();
    co_await done.at_least(1);
    CHECK(queued.resumed == 1);
    CHECK(queued.res == -ECANCELED);  // AIO_CANCELED
    CHECK(held.resumed == 0);
    blocker.release();
    co_await done.at_least(2);
  }(), pool_config(1));
  CHECK(held.resumed == 1);
  CHECK(held.res == worker_blocker::size);
  CHECK(queued.resumed == 1);
  CHECK(untouched(buf.data(), buf.size()));  // it never ran: the buffer was never written
}

// Waits (on the loop, 1 ms at a time) until the blocker's recv has taken the bytes sent so far:
// then a worker is inside that recv for sure.
task<void> until_taken(worker_blocker& blocker) {
  while (blocker.unread() != 0) {
    auto slept = co_await sleep_for(std::chrono::milliseconds(1));
    REQUIRE(slept);
  }
}

TEST_CASE("a call that may wait for ever is interrupted by a cancel while a worker runs it", "[fallback][pool][cancel]") {
  worker_blocker blocker;
  op_record running;
  counter done;
  run([&]() -> task<void> {
    stop_source src;
    spawn(record(hold(blocker), with_token(src.token()), &running, &done));
    co_await yield();
    blocker.send_some(0);
    co_await until_taken(blocker);
    auto slept = co_await sleep_for(std::chrono::milliseconds(5));  // let the worker enter its recv
    REQUIRE(slept);
    src.request_stop();  // the worker is signalled; its recv has received nothing
    co_await done.at_least(1);
  }(), pool_config(1));
  CHECK(running.resumed == 1);
  CHECK(running.res == -ECANCELED);
}

TEST_CASE("an interrupted call that already transferred bytes reports them, as POSIX says", "[fallback][pool][cancel]") {
  worker_blocker blocker;
  op_record running;
  counter done;
  run([&]() -> task<void> {
    stop_source src;
    spawn(record(hold(blocker), with_token(src.token()), &running, &done));
    co_await yield();
    blocker.send_some(1);
    co_await until_taken(blocker);  // the recv holds 1 byte and waits for the rest
    src.request_stop();
    co_await done.at_least(1);
  }(), pool_config(1));
  CHECK(running.resumed == 1);
  CHECK(running.res == 1);  // a partial transfer, not an error: that byte is not lost
}

TEST_CASE("an offloaded call cancelled while a worker runs it completes with its real result (AIO_NOTCANCELED)",
          "[fallback][pool][cancel]") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  unique_fd read_end(fds[0]), write_end(fds[1]);
  std::atomic<bool> started{false};
  int resumed = 0;
  std::optional<long> got;
  run([&]() -> task<void> {
    stop_source src;
    auto blocking_read = [&] {
      started.store(true);
      char c;
      return static_cast<long>(::read(read_end.get(), &c, 1));  // user code: never interrupted
    };
    auto caller = [&]() -> task<void> {
      got = co_await offload(blocking_read).with_token(src.token());
      ++resumed;
    };
    spawn(caller());
    while (!started.load()) {
      auto slept = co_await sleep_for(std::chrono::milliseconds(1));
      REQUIRE(slept);
    }
    src.request_stop();      // AIO_NOTCANCELED: nothing happens now...
    auto n = co_await nop();  // ...a completion posted by the cancel would have run before this one
    REQUIRE(n);
    CHECK(resumed == 0);
    REQUIRE(::write(write_end.get(), "x", 1) == 1);
    while (resumed == 0) {
      auto slept = co_await sleep_for(std::chrono::milliseconds(1));
      REQUIRE(slept);
    }
  }(), pool_config(1));
  CHECK(resumed == 1);
  REQUIRE(got);
  CHECK(*got == 1);  // ...and the call delivers what it really did
}

TEST_CASE("cancelling an op that already finished is a no-op, before and after it resumed", "[fallback][pool][cancel]") {
  pattern_file file;
  worker_blocker blocker;
  op_record first, second;
  counter done;
  std::array<char, 16> buf;
  buf.fill('#');
  run([&]() -> task<void> {
    stop_source src;
    // One worker, FIFO: `first` runs to completion before the worker starts the recv behind it.
    spawn(record(read_into(file.fd.get(), buf.data(), buf.size(), 0), with_token(src.token()), &first, &done));
    spawn(record(hold(blocker), {}, &second, &done));
    co_await yield();
    blocker.release();
    // Without returning to the loop: once the recv took the bytes, `first` has finished on the
    // worker and its completion waits in the remote queue, not yet resumed.
    while (blocker.unread() != 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    CHECK(first.resumed == 0);
    src.request_stop();  // AIO_ALLDONE
    co_await done.at_least(2);
    CHECK(first.resumed == 1);
    CHECK(first.res == 16);  // its real result, not operation_canceled
    src.request_stop();      // again, after it resumed: nothing at all
    auto n = co_await nop();
    REQUIRE(n);
  }(), pool_config(1));
  CHECK(first.resumed == 1);
  CHECK(second.resumed == 1);
  for (std::size_t i = 0; i < buf.size(); ++i) CHECK(static_cast<std::uint8_t>(buf[i]) == pattern_byte(i));
}

TEST_CASE("an op parked by a full queue can be cancelled; the ops around it keep their order",
          "[fallback][pool][cancel][back-pressure]") {
  pattern_file file;
  worker_blocker blocker;
  constexpr int ops = 6;
  std::array<op_record, ops> rec;
  op_record held;
  counter done;
  std::vector<int> order;
  std::array<std::array<char, 8>, ops> bufs;
  for (auto& b : bufs) b.fill('#');
  runtime rt(pool_config(1, 2));
  rt.run([&]() -> task<void> {
    stop_source src;
    spawn(record(hold(blocker), in_order(order, -1), &held, &done));
    for (int i = 0; i < ops; ++i) {
      record_options o = in_order(order, i);
      if (i == 4) o.token = src.token();
      spawn(record(read_into(file.fd.get(), bufs[i].data(), 8, 8 * i), o, &rec[i], &done));
    }
    co_await yield();
    // At most two wait in the queue; the later ones, #4 among them, are parked at this shard.
    CHECK(rt.stats().pool_parked >= ops - 2);
    src.request_stop();
    co_await done.at_least(1);
    CHECK(rec[4].resumed == 1);
    CHECK(rec[4].res == -ECANCELED);
    blocker.release();
    co_await done.at_least(ops + 1);
  }());
  CHECK(order == std::vector<int>{4, -1, 0, 1, 2, 3, 5});
  CHECK(untouched(bufs[4].data(), 8));
  for (int i = 0; i < ops; ++i) {
    INFO("op " << i);
    CHECK(rec[i].resumed == 1);
    if (i != 4) CHECK(rec[i].res == 8);
  }
  CHECK(rt.pool().queue_high_water <= 2);
}

TEST_CASE("with a saturated pool, queued ops start highest priority class first, FIFO within a class",
          "[fallback][pool][priority]") {
  pattern_file file;
  worker_blocker blocker;
  constexpr int ops = 12;
  std::array<op_record, ops> rec;
  op_record held;
  counter done;
  std::vector<int> order;
  std::array<char, ops> bytes{};
  const io_priority classes[] = {io_priority::idle(), io_priority::best_effort(), io_priority::realtime()};
  run([&]() -> task<void> {
    // The blocker outranks everything, so the worker takes it first whenever it wakes.
    spawn(record(hold(blocker), in_order(order, -1, io_priority::realtime(0)), &held, &done));
    for (int i = 0; i < ops; ++i)
      spawn(record(read_into(file.fd.get(), &bytes[i], 1, i), in_order(order, i, classes[i % 3]), &rec[i], &done));
    co_await yield();
    blocker.release();
    co_await done.at_least(ops + 1);
  }(), pool_config(1));
  // Submitted idle, best-effort, real-time, idle, ...: they start real-time first.
  CHECK(order == std::vector<int>{-1, 2, 5, 8, 11, 1, 4, 7, 10, 0, 3, 6, 9});
  for (int i = 0; i < ops; ++i) {
    INFO("op " << i);
    CHECK(rec[i].res == 1);
    CHECK(static_cast<std::uint8_t>(bytes[i]) == pattern_byte(i));
  }
}

TEST_CASE("within a class the lower level goes first; no priority means best-effort level 4",
          "[fallback][pool][priority]") {
  pattern_file file;
  worker_blocker blocker;
  struct op {
    int id;
    std::optional<io_priority> priority;
  };
  const std::vector<op> ops = {
      {0, io_priority::best_effort(7)}, {1, std::nullopt},         {2, io_priority::realtime(7)},
      {3, io_priority::idle()},         {4, io_priority::best_effort(0)}, {5, io_priority::best_effort(4)},
      {6, io_priority::realtime(0)},    {7, std::nullopt},
  };
  std::vector<op_record> rec(ops.size());
  op_record held;
  counter done;
  std::vector<int> order;
  std::vector<char> bytes(ops.size());
  run([&]() -> task<void> {
    spawn(record(hold(blocker), in_order(order, -1, io_priority::realtime(0)), &held, &done));
    for (const op& o : ops)
      spawn(record(read_into(file.fd.get(), &bytes[o.id], 1, o.id), in_order(order, o.id, o.priority), &rec[o.id], &done));
    co_await yield();
    blocker.release();
    co_await done.at_least(ops.size() + 1);
  }(), pool_config(1));
  CHECK(order == std::vector<int>{-1, 6, 2, 4, 1, 5, 7, 0, 3});
}

TEST_CASE("with a full queue, hundreds of blocking ops wait their turn: none fails, the bound holds",
          "[fallback][pool][back-pressure]") {
  constexpr std::size_t capacity = 4;
  constexpr int ops = 300;
  pattern_file file(ops);
  worker_blocker blocker;
  std::vector<op_record> rec(ops);
  op_record held;
  counter done;
  std::vector<int> order;
  std::vector<char> bytes(ops, '#');
  runtime rt(pool_config(1, capacity));
  rt.run([&]() -> task<void> {
    spawn(record(hold(blocker), in_order(order, -1), &held, &done));
    for (int i = 0; i < ops; ++i)
      spawn(record(read_into(file.fd.get(), &bytes[i], 1, i), in_order(order, i), &rec[i], &done));
    co_await yield();
    // The blocker and at most `capacity` reads are in the pool; the rest wait, parked, here.
    CHECK(rt.stats().pool_parked >= ops - capacity);
    CHECK(rt.pool().queue_high_water <= capacity);
    CHECK(done.value() == 0);
    blocker.release();
    co_await done.at_least(ops + 1);
  }());
  std::vector<int> expected(ops + 1);
  std::iota(expected.begin(), expected.end(), -1);
  CHECK(order == expected);  // parking keeps submission order
  for (int i = 0; i < ops; ++i) {
    INFO("op " << i);
    CHECK(rec[i].resumed == 1);
    CHECK(rec[i].res == 1);
    CHECK(static_cast<std::uint8_t>(bytes[i]) == pattern_byte(i));
  }
  CHECK(rt.pool().queue_capacity == capacity);
  CHECK(rt.pool().queue_high_water <= capacity);
  CHECK(rt.pool().queue_high_water >= 1);
  CHECK(rt.stats().pool_parked >= ops - capacity);
}

TEST_CASE("sleeps complete in deadline order, whatever order they were started in", "[fallback][pool][timer]") {
  constexpr int sleeps = 40;
  std::vector<op_record> rec(sleeps);
  std::vector<int> order;
  counter done;
  std::vector<int> rank(sleeps);
  std::iota(rank.begin(), rank.end(), 0);
  std::shuffle(rank.begin(), rank.end(), std::mt19937(3));
  run([&]() -> task<void> {
    const auto base = std::chrono::steady_clock::now();
    for (int i = 0; i < sleeps; ++i) {
      const auto deadline = base + std::chrono::milliseconds(rank[i] + 1);
      spawn(record([deadline] { return sleep_until(deadline); }, in_order(order, rank[i]), &rec[i], &done));
    }
    co_await done.at_least(sleeps);
  }(), pool_config(1));
  std::vector<int> expected(sleeps);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(order == expected);
  for (const op_record& r : rec) {
    CHECK(r.resumed == 1);
    CHECK(r.res == 0);
  }
}

TEST_CASE("a cancelled sleep ends at once with operation_canceled; the others keep their deadlines",
          "[fallback][pool][timer][cancel]") {
  constexpr int sleeps = 40;
  std::vector<op_record> rec(sleeps);
  op_record forever;
  std::vector<int> order;
  counter done;
  std::vector<int> rank(sleeps);
  std::iota(rank.begin(), rank.end(), 0);
  std::shuffle(rank.begin(), rank.end(), std::mt19937(5));
  run([&]() -> task<void> {
    stop_source odd, long_one;
    spawn(record([] { return sleep_for(std::chrono::hours(1)); }, with_token(long_one.token()), &forever, &done));
    const auto base = std::chrono::steady_clock::now();
    for (int i = 0; i < sleeps; ++i) {
      const auto deadline = base + std::chrono::milliseconds(2 * rank[i] + 2);
      record_options o = in_order(order, rank[i]);
      if (rank[i] % 2 == 1) o.token = odd.token();  // taken out of the middle of the timer heap
      spawn(record([deadline] { return sleep_until(deadline); }, o, &rec[i], &done));
    }
    co_await yield();  // resumed in the same batch as the sleeps' first steps: none can expire before this
    odd.request_stop();
    co_await done.at_least(sleeps / 2);
    for (int i = 0; i < sleeps; ++i) {
      if (rank[i] % 2 == 1) {
        CHECK(rec[i].resumed == 1);
        CHECK(rec[i].res == -ECANCELED);
      }
    }
    co_await done.at_least(sleeps);
    long_one.request_stop();  // an hour-long sleep must not keep anyone waiting
    co_await done.at_least(sleeps + 1);
  }(), pool_config(1));
  // The cancelled ones first (in the order the cancellations ran), then the rest by deadline.
  REQUIRE(order.size() == sleeps);
  std::vector<int> cancelled(order.begin(), order.begin() + sleeps / 2), expired(order.begin() + sleeps / 2, order.end());
  std::sort(cancelled.begin(), cancelled.end());
  std::vector<int> odd, even;
  for (int r = 0; r < sleeps; ++r) (r % 2 ? odd : even).push_back(r);
  CHECK(cancelled == odd);
  CHECK(expired == even);
  for (int i = 0; i < sleeps; ++i) {
    CHECK(rec[i].resumed == 1);
    if (rank[i] % 2 == 0) CHECK(rec[i].res == 0);
  }
  CHECK(forever.resumed == 1);
  CHECK(forever.res == -ECANCELED);
}

TEST_CASE("one wait covers timers, readiness and worker completions", "[fallback][pool][timer]") {
  worker_blocker blocker;
  op_record held, waiting_recv, slept;
  std::vector<int> order;
  counter done;
  std::array<char, 4> buf{};
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto& [a, b] = *pair;
    const int fd = a.fd();
    spawn(record(hold(blocker), in_order(order, 0), &held, &done));
    spawn(record([fd, &buf] { return recv(fd, buffer(buf)); }, in_order(order, 1), &waiting_recv, &done));
    spawn(record([] { return sleep_for(std::chrono::milliseconds(2)); }, in_order(order, 2), &slept, &done));
    co_await done.at_least(1);  // only the sleep can end on its own
    CHECK(order == std::vector<int>{2});
    std::string x = "x";
    auto sent = co_await b.send(const_buffer_of(x));
    REQUIRE(sent);
    co_await done.at_least(2);
    blocker.release();
    co_await done.at_least(3);
  }(), pool_config(1));
  CHECK(order == std::vector<int>{2, 1, 0});
  CHECK(waiting_recv.res == 1);
  CHECK(held.res == worker_blocker::size);
}

TEST_CASE("when run() returns with ops queued and parked, each completes exactly once, cancelled or done",
          "[fallback][pool][cancel][shutdown]") {
  pattern_file file;
  worker_blocker blocker;
  constexpr int ops = 8;
  std::array<op_record, ops> rec;
  op_record held;
  counter done;
  std::array<std::array<char, 4>, ops> bufs;
  for (auto& b : bufs) b.fill('#');
  {
    couring::testing::fd_leak_check leaks;
    runtime rt(pool_config(1, 2));
    rt.run([&]() -> task<void> {
      spawn(record(hold(blocker), {}, &held, &done));
      for (int i = 0; i < ops; ++i) spawn(record(read_into(file.fd.get(), bufs[i].data(), 4, 4 * i), {}, &rec[i], &done));
      co_await yield();
      blocker.send_some(1);
      while (blocker.unread() != 0) {  // until the worker runs it: then it cannot be dequeued
        auto slept = co_await sleep_for(std::chrono::milliseconds(1));
        REQUIRE(slept);
      }
      blocker.release();  // the running op can finish; the rest is still waiting when we return
    }());
  }
  CHECK(held.resumed == 1);
  // Shutdown interrupts the running recv: it ends with the byte it had, or with all four if the
  // release reached it first. Never an error, never lost bytes.
  CHECK((held.res == 1 || held.res == static_cast<int>(worker_blocker::size)));
  for (int i = 0; i < ops; ++i) {
    INFO("op " << i << " ended with " << rec[i].res);
    CHECK(rec[i].resumed == 1);
    CHECK((rec[i].res == 4 || rec[i].res == -ECANCELED));
    if (rec[i].res == -ECANCELED) CHECK(untouched(bufs[i].data(), 4));
  }
}
