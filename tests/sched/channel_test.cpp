// channel<T>: order, back-pressure, close, cancellation, and many producers and consumers on
// several shards, with nothing lost or duplicated.
#include "sched_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::manual_frame;
using couring::testing::settle;
using couring::testing::start_here;
using couring::testing::with_shards;

namespace {

task<void> produce(channel<int>& ch, int from, int to, int& sent) {
  for (int i = from; i < to; ++i) {
    auto r = co_await ch.send(i);
    if (!r) co_return;
    ++sent;
  }
}

task<void> record_send(channel<int>& ch, int v, result<void>& out, bool& resumed) {
  out = co_await ch.send(v);
  resumed = true;
}

task<void> record_receive(channel<int>& ch, std::optional<result<int>>& out) {
  auto r = co_await ch.receive();
  out.emplace(std::move(r));
}

// Receives until the channel reports closed; returns what it got, in order.
task<std::vector<int>> drain(channel<int>& ch) {
  std::vector<int> got;
  for (;;) {
    auto r = co_await ch.receive();
    if (!r) {
      if (r.error() != error::channel_closed) throw std::system_error(r.error());
      break;
    }
    got.push_back(*r);
  }
  co_return got;
}

}  // namespace

TEST_CASE("channel values come out in order, and send waits while the channel is full", "[sched][channel]") {
  run([&]() -> task<void> {
    channel<int> ch(2);
    int sent = 0;
    spawn(produce(ch, 0, 10, sent));
    co_await settle();
    CHECK(sent == 2);  // back-pressure: the third send waits for room
    CHECK(ch.size() == 2);
    for (int i = 0; i < 10; ++i) {
      auto r = co_await ch.receive();
      REQUIRE(r);
      CHECK(*r == i);
    }
    co_await settle();
    CHECK(sent == 10);
    CHECK(ch.size() == 0);
  }());
}

TEST_CASE("a channel of capacity 0 is a rendezvous: each send waits for its receiver", "[sched][channel]") {
  run([&]() -> task<void> {
    channel<int> ch(0);
    int sent = 0;
    spawn(produce(ch, 0, 3, sent));
    co_await settle();
    CHECK(sent == 0);
    CHECK(ch.size() == 0);
    auto a = co_await ch.receive();
    REQUIRE(a);
    CHECK(*a == 0);
    co_await settle();
    CHECK(sent == 1);
    // A waiting receiver is handed the value directly.
    std::optional<result<int>> got;
    auto pending = ch.try_receive();
    CHECK(pending);  // the producer is already waiting with 1
    CHECK(*pending == 1);
    spawn(record_receive(ch, got));
    co_await settle();
    REQUIRE(got);
    REQUIRE(*got);
    CHECK(**got == 2);
  }());
}

TEST_CASE("closing a channel wakes waiting receivers with channel_closed", "[sched][channel][close]") {
  run([&]() -> task<void> {
    channel<int> ch(4);
    std::optional<result<int>> a, b;
    spawn(record_receive(ch, a));
    spawn(record_receive(ch, b));
    co_await settle();
    CHECK_FALSE(a);
    CHECK(ch.close());
    CHECK_FALSE(ch.close());  // once
    co_await settle();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->error() == error::channel_closed);
    CHECK(b->error() == error::channel_closed);
  }());
}

TEST_CASE("closing a channel fails waiting senders; buffered values still drain, then receives report closed",
          "[sched][channel][close]") {
  run([&]() -> task<void> {
    channel<int> ch(2);
    int sent = 0;
    spawn(produce(ch, 0, 5, sent));  // 0 and 1 buffered, 2 waits
    result<void> late;
    bool late_resumed = false;
    spawn(record_send(ch, 99, late, late_resumed));
    co_await settle();
    CHECK(sent == 2);
    ch.close();
    co_await settle();
    CHECK(sent == 2);  // the waiting send failed, so the producer stopped
    REQUIRE(late_resumed);
    CHECK(late.error() == error::channel_closed);
    auto after = co_await ch.send(7);
    CHECK(after.error() == error::channel_closed);
    auto refused = ch.try_send(8);
    CHECK(refused.error() == error::channel_closed);
    std::vector<int> rest = co_await drain(ch);
    CHECK(rest == std::vector<int>{0, 1});
    auto again = co_await ch.receive();
    CHECK(again.error() == error::channel_closed);
  }());
}

TEST_CASE("try_send and try_receive never wait and say why they could not", "[sched][channel]") {
  channel<std::string> ch(1);
  auto empty = ch.try_receive();
  CHECK(empty.error() == std::errc::resource_unavailable_try_again);
  std::string a = "first", b = "second";
  CHECK(ch.try_send(std::move(a)));
  auto full = ch.try_send(std::move(b));
  CHECK(full.error() == std::errc::resource_unavailable_try_again);
  CHECK(b == "second");  // a refused value is left to the caller
  auto got = ch.try_receive();
  REQUIRE(got);
  CHECK(*got == "first");
  ch.close();
  auto closed = ch.try_receive();
  CHECK(closed.error() == error::channel_closed);
}

TEST_CASE("a channel carries move-only values", "[sched][channel]") {
  run([&]() -> task<void> {
    channel<std::unique_ptr<int>> ch(1);
    auto s = co_await ch.send(std::make_unique<int>(42));
    REQUIRE(s);
    auto r = co_await ch.receive();
    REQUIRE(r);
    REQUIRE(*r);
    CHECK(**r == 42);
  }());
}

TEST_CASE("a cancelled receive leaves the queue; the next value goes to the next receiver",
          "[sched][channel][cancel]") {
  run([&]() -> task<void> {
    channel<int> ch(1);
    stop_source cancel_a;
    std::optional<result<int>> a, b;
    spawn(record_receive(ch, a).with_token(cancel_a.token()));
    spawn(record_receive(ch, b));
    co_await settle();
    cancel_a.request_stop();
    co_await settle();
    REQUIRE(a);
    CHECK(a->error() == std::errc::operation_canceled);
    CHECK_FALSE(b);
    auto s = co_await ch.send(5);
    REQUIRE(s);
    co_await settle();
    REQUIRE(b);
    REQUIRE(*b);
    CHECK(**b == 5);
  }());
}

TEST_CASE("a cancelled send leaves the queue and its value is not delivered", "[sched][channel][cancel]") {
  run([&]() -> task<void> {
    channel<int> ch(1);
    REQUIRE(ch.try_send(1));
    stop_source cancel_send;
    result<void> r;
    bool resumed = false;
    spawn(record_send(ch, 2, r, resumed).with_token(cancel_send.token()));
    co_await settle();
    CHECK_FALSE(resumed);
    cancel_send.request_stop();
    co_await settle();
    REQUIRE(resumed);
    CHECK(r.error() == std::errc::operation_canceled);
    ch.close();
    std::vector<int> rest = co_await drain(ch);
    CHECK(rest == std::vector<int>{1});
  }());
}

TEST_CASE("a value handed to a receiver and a cancel of that receiver resolve to exactly one outcome",
          "[sched][channel][cancel]") {
  run([&]() -> task<void> {
    channel<int> ch(4);
    SECTION("the value first: the receiver gets it despite the later cancel") {
      stop_source s;
      std::optional<result<int>> got;
      spawn(record_receive(ch, got).with_token(s.token()));
      co_await settle();
      REQUIRE(ch.try_send(3));  // handed to the waiting receiver...
      s.request_stop();         // ...before it ran
      co_await settle();
      REQUIRE(got);
      REQUIRE(*got);
      CHECK(**got == 3);
      CHECK(ch.size() == 0);
    }
    SECTION("the cancel first: the value stays in the channel for the next receiver") {
      stop_source s;
      std::optional<result<int>> got;
      spawn(record_receive(ch, got).with_token(s.token()));
      co_await settle();
      s.request_stop();
      REQUIRE(ch.try_send(3));
      co_await settle();
      REQUIRE(got);
      CHECK(got->error() == std::errc::operation_canceled);
      CHECK(ch.size() == 1);
      auto next = co_await ch.receive();
      REQUIRE(next);
      CHECK(*next == 3);
    }
  }());
}

TEST_CASE("a value handed to a receiver destroyed before it resumed goes back to the channel",
          "[sched][channel][shutdown]") {
  run([&]() -> task<void> {
    channel<int> ch(4);
    std::optional<result<int>> got;
    manual_frame f(record_receive(ch, got));
    f.start();
    REQUIRE(ch.try_send(11));  // handed to f...
    REQUIRE(ch.try_send(12));
    f.destroy();               // ...which dies first: 11 is put back in front
    co_await settle();
    CHECK_FALSE(got);
    auto a = co_await ch.receive();
    auto b = co_await ch.receive();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a == 11);
    CHECK(*b == 12);
  }());
}

TEST_CASE("waiting senders and receivers destroyed with their frames leave the channel usable",
          "[sched][channel][shutdown]") {
  run([&]() -> task<void> {
    channel<int> ch(0);
    result<void> s;
    bool s_resumed = false;
    std::optional<result<int>> got;
    {
      manual_frame sender(record_send(ch, 1, s, s_resumed));
      sender.start();
    }  // destroyed while waiting: its value is dropped with it
    auto none = ch.try_receive();
    CHECK(none.error() == std::errc::resource_unavailable_try_again);
    {
      manual_frame receiver(record_receive(ch, got));
      receiver.start();
    }
    auto refused = ch.try_send(2);  // no receiver is waiting any more
    CHECK(refused.error() == std::errc::resource_unavailable_try_again);
    CHECK_FALSE(s_resumed);
    CHECK_FALSE(got);
    co_await settle();
  }());
}

namespace {

// Many producers and consumers on both shards share one channel. Every producer sends a disjoint
// range; consumers tally what they receive; shard 0 checks the union.
struct tally {
  std::vector<std::uint32_t> seen;
  std::uint64_t received = 0;
};

task<void> produce_range(channel<std::uint32_t>& ch, std::uint32_t from, std::uint32_t to) {
  for (std::uint32_t i = from; i < to; ++i) {
    auto r = co_await ch.send(i);
    if (!r) throw std::system_error(r.error(), "send");
  }
}

task<void> consume_all(channel<std::uint32_t>& ch, tally& t) {
  for (;;) {
    auto r = co_await ch.receive();
    if (!r) {
      if (r.error() != error::channel_closed) throw std::system_error(r.error(), "receive");
      co_return;
    }
    ++t.seen[*r];
    ++t.received;
  }
}

task<void> producers_then_close(channel<std::uint32_t>& ch, std::uint32_t base, std::uint32_t per_producer,
                                async_semaphore& done) {
  co_await when_all(produce_range(ch, base, base + per_producer),
                    produce_range(ch, base + per_producer, base + 2 * per_producer));
  done.release();
}

// Two producers and two consumers on whichever shard runs it. (when_all holds its arguments by
// reference, so it is awaited here, in the expression that creates them.)
task<void> one_shard_side(channel<std::uint32_t>& ch, std::uint32_t base, std::uint32_t per_producer,
                          async_semaphore& done, tally& a, tally& b) {
  co_await when_all(producers_then_close(ch, base, per_producer, done), consume_all(ch, a), consume_all(ch, b));
}

}  // namespace

TEST_CASE("producers and consumers on two shards share a channel; every value arrives exactly once",
          "[sched][channel][shards]") {
  constexpr std::uint32_t per_producer = 20000;
  constexpr std::uint32_t total = 4 * per_producer;
  std::vector<tally> tallies(4);
  for (auto& t : tallies) t.seen.assign(total, 0);
  run([&]() -> task<void> {
    channel<std::uint32_t> ch(64);
    async_semaphore producers_done(0);
    auto closer = [](channel<std::uint32_t>& ch, async_semaphore& done) -> task<void> {
      for (int i = 0; i < 2; ++i) {
        auto r = co_await done.acquire();
        if (!r) co_return;
      }
      ch.close();
    };
    auto remote = on_shard(1, [&] { return one_shard_side(ch, 2 * per_producer, per_producer, producers_done, tallies[2], tallies[3]); });
    co_await when_all(std::move(remote), producers_then_close(ch, 0, per_producer, producers_done),
                      consume_all(ch, tallies[0]), consume_all(ch, tallies[1]), closer(ch, producers_done));
    CHECK(ch.is_closed());
  }(), with_shards(2));
  std::uint64_t received = 0;
  std::size_t wrong = 0;
  for (std::uint32_t v = 0; v < total; ++v) {
    std::uint32_t n = 0;
    for (auto& t : tallies) n += t.seen[v];
    if (n != 1) ++wrong;
  }
  for (auto& t : tallies) received += t.received;
  CHECK(received == total);
  CHECK(wrong == 0);
}

namespace {

// Shard 1 keeps starting a receive and cancelling it at once, while shard 0 sends through a small
// channel: a value handed to a receiver whose cancel won the race must go to a later receive, so
// shard 1 ends up with every value exactly once, in order.
struct race_result {
  std::vector<int> received;
  int canceled = 0;
  bool closed = false;
};

task<void> receive_then_cancel(channel<int>& ch, race_result& out) {
  stop_source s;
  std::optional<result<int>> got;
  spawn(record_receive(ch, got).with_token(s.token()));
  co_await yield();
  s.request_stop();
  while (!got) co_await yield();
  if (*got) out.received.push_back(**got);
  else if (got->error() == error::channel_closed) out.closed = true;
  else ++out.canceled;
}

task<race_result> racing_receiver(channel<int>& ch) {
  race_result r;
  while (!r.closed) co_await receive_then_cancel(ch, r);
  co_return r;
}

task<int> send_then_close(channel<int>& ch, int values) {
  int sent = 0;
  for (int i = 0; i < values; ++i) {
    auto s = co_await ch.send(i);
    if (!s) break;
    ++sent;
  }
  ch.close();
  co_return sent;
}

}  // namespace

TEST_CASE("receives cancelled on one shard while another sends lose no value and duplicate none",
          "[sched][channel][cancel][shards]") {
  constexpr int values = 2000;
  race_result far;
  int sent = 0;
  run([&]() -> task<void> {
    channel<int> ch(2);
    auto remote = on_shard(1, [&] { return racing_receiver(ch); });
    auto [r, n] = co_await when_all(std::move(remote), send_then_close(ch, values));
    far = std::move(r);
    sent = n;
  }(), with_shards(2));
  CHECK(sent == values);
  std::vector<int> expected(static_cast<std::size_t>(values));
  for (int i = 0; i < values; ++i) expected[static_cast<std::size_t>(i)] = i;
  CHECK(far.received == expected);
  CHECK(far.closed);
}
