// Deadlines and sleeps: with_timeout/with_deadline expire as std::errc::timed_out (never confused
// with a user's operation_canceled), an op that finishes first yields its own result, and sleeps
// are cancellable and wake in deadline order, never early.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
using couring::testing::outcome;
using couring::testing::temp_dir;
namespace t = couring::testing;
using clock_type = std::chrono::steady_clock;

namespace {

template <class R>
std::error_code error_of(const R& r) {
  return r ? std::error_code{} : r.error();
}

task<void> stop_after(stop_source* src, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  src->request_stop();
}

task<void> send_after(int fd, int yields, const char* data) {
  for (int i = 0; i < yields; ++i) co_await yield();
  REQUIRE(::send(fd, data, std::strlen(data), 0) == static_cast<ssize_t>(std::strlen(data)));
}

// ---- expiry -------------------------------------------------------------------------------------

task<void> expiring_ops(runtime* rt, int sock, int peer, const unix_listener* listener, int pipe_read, int* checked) {
  std::array<char, 8> buf{};
  auto r = co_await couring::recv(sock, buffer(buf)).with_timeout(20ms);
  REQUIRE_FALSE(r);
  CHECK(r.error() == std::errc::timed_out);
  // The expired recv consumed nothing: data sent now is all there for the next one.
  REQUIRE(::send(peer, "late", 4, 0) == 4);
  auto next = co_await couring::recv(sock, buffer(buf));
  REQUIRE(next);
  CHECK(std::string(buf.data(), *next) == "late");

  auto s = co_await sleep_for(1h).with_timeout(10ms);
  REQUIRE_FALSE(s);
  CHECK(s.error() == std::errc::timed_out);

  auto a = co_await listener->accept().with_timeout(10ms);
  REQUIRE_FALSE(a);
  CHECK(a.error() == std::errc::timed_out);

  auto p = co_await couring::poll(pipe_read, POLLIN).with_deadline(clock_type::now() + 10ms);
  REQUIRE_FALSE(p);
  CHECK(p.error() == std::errc::timed_out);

  // The free-function spellings.
  auto f1 = co_await with_timeout(couring::recv(sock, buffer(buf)), 5ms);
  REQUIRE_FALSE(f1);
  CHECK(f1.error() == std::errc::timed_out);
  auto f2 = co_await with_deadline(sleep_until(clock_type::now() + 1h), clock_type::now() + 5ms);
  REQUIRE_FALSE(f2);
  CHECK(f2.error() == std::errc::timed_out);

  // Nothing of these ops is left on the loop's timers.
  CHECK(rt->sched().timers_armed() == 0);
  ++*checked;
}

TEST_CASE("an expired deadline yields timed_out on sleeps, recv, accept and poll", "[cancel][timeout]") {
  temp_dir dir;
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  auto pipe_ends = t::pipe_pair();
  unique_fd& pipe_read = pipe_ends.first;
  auto listener = unix_listener::bind(dir.file("l")).value();
  runtime rt;
  int checked = 0;
  rt.run(expiring_ops(&rt, sock.get(), peer.get(), &listener, pipe_read.get(), &checked));
  CHECK(checked == 1);
}

task<void> timeout_vs_cancel(int sock, int* checked) {
  std::array<char, 8> buf{};
  stop_source src;
  std::error_code e;
  auto waiter = [](int fd, mutable_buffer b, stop_token tok, std::error_code* out) -> task<void> {
    auto r = co_await couring::recv(fd, b).with_timeout(1h).with_token(std::move(tok));
    *out = error_of(r);
  };
  co_await when_all(waiter(sock, buffer(buf), src.token(), &e), stop_after(&src, 3));
  CHECK(e == std::errc::operation_canceled);  // the user stopped it; the deadline did not expire
  ++*checked;
}

TEST_CASE("a user cancel of an op with a deadline is operation_canceled, not timed_out", "[cancel][timeout]") {
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  int checked = 0;
  run([&]() -> task<void> { co_await timeout_vs_cancel(sock.get(), &checked); }());
  CHECK(checked == 1);
}

// ---- finishing first ----------------------------------------------------------------------------

task<void> finishing_first(runtime* rt, int sock, int peer, int file_fd, std::string path, int* checked) {
  std::array<char, 16> buf{};
  auto r = co_await couring::recv(sock, buffer(buf)).with_timeout(1h);  // data already queued
  REQUIRE(r);
  CHECK(std::string(buf.data(), *r) == "early");

  // Data arriving while the op waits, long before its deadline.
  std::error_code e;
  std::size_t got = 0;
  auto waiter = [](int fd, mutable_buffer b, std::error_code* out, std::size_t* n) -> task<void> {
    auto x = co_await couring::recv(fd, b).with_timeout(1h);
    *out = error_of(x);
    if (x) *n = *x;
  };
  co_await when_all(waiter(sock, buffer(buf), &e, &got), send_after(peer, 3, "later"));
  CHECK_FALSE(e);
  CHECK(std::string(buf.data(), got) == "later");

  auto rd = co_await couring::read_at(file_fd, buffer(buf), 0).with_timeout(1h);  // a worker op on the pool
  REQUIRE(rd);
  CHECK(*rd == buf.size());
  auto f = co_await file::open(path.c_str(), O_RDONLY).with_deadline(clock_type::now() + 1h);
  REQUIRE(f);
  auto s = co_await sleep_for(1ms).with_timeout(1h);
  CHECK(s);
  auto s2 = co_await sleep_until(clock_type::now() + 1ms).with_deadline(clock_type::now() + 1h);
  CHECK(s2);
  auto forever = co_await with_timeout(couring::read_at(file_fd, buffer(buf), 0), std::chrono::hours::max());
  CHECK(forever);

  // An op that can complete at once is not failed by a deadline that has already passed.
  REQUIRE(::send(peer, "now", 3, 0) == 3);
  auto past = co_await couring::recv(sock, buffer(buf)).with_deadline(clock_type::now() - 1s);
  REQUIRE(past);
  CHECK(std::string(buf.data(), *past) == "now");
  // One that must wait expires at once.
  auto expired = co_await couring::recv(sock, buffer(buf)).with_deadline(clock_type::now() - 1s);
  REQUIRE_FALSE(expired);
  CHECK(expired.error() == std::errc::timed_out);

  CHECK(rt->sched().timers_armed() == 0);  // every deadline timer was disarmed with its op
  ++*checked;
}

TEST_CASE("an op that finishes before its deadline yields its own value", "[cancel][timeout]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 64);
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  REQUIRE(::send(peer.get(), "early", 5, 0) == 5);
  unique_fd file_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  runtime rt;
  int checked = 0;
  rt.run(finishing_first(&rt, sock.get(), peer.get(), file_fd.get(), path, &checked));
  CHECK(checked == 1);
}

// ---- racing ---------------------------------------------------------------------------------------

struct tally {
  std::size_t values = 0;
  std::size_t timed_out = 0;
};

task<void> recv_with_timeout(int fd, mutable_buffer b, int timeout_us, std::error_code* e, std::size_t* n, int* resumed) {
  auto r = co_await couring::recv(fd, b).with_timeout(std::chrono::microseconds(timeout_us));
  ++*resumed;
  *e = error_of(r);
  if (r) *n = *r;
}

task<void> send_after_spin(int fd, int yields, int spin_us, bool send) {
  if (!send) co_return;
  for (int i = 0; i < yields; ++i) co_await yield();
  const auto until = clock_type::now() + std::chrono::microseconds(spin_us);
  while (clock_type::now() < until) {
  }
  REQUIRE(::send(fd, "z", 1, 0) == 1);
}

task<void> timeout_race_loop(int sock, int peer, std::size_t iterations, tally* out) {
  std::mt19937 rng(t::test_seed(0x71e0));
  for (std::size_t i = 0; i < iterations; ++i) {
    std::array<char, 4> buf{};
    std::error_code e;
    std::size_t n = 0;
    int resumed = 0;
    // Modes 0 and 1 race; 2 (a deadline of 10 s) can only get the data; 3 (no data) can only expire.
    const int mode = static_cast<int>(i % 4);
    const int timeout_us = mode == 2 ? 10'000'000 : static_cast<int>(rng() % 60);
    co_await when_all(recv_with_timeout(sock, buffer(buf), timeout_us, &e, &n, &resumed),
                      send_after_spin(peer, static_cast<int>(rng() % 3), static_cast<int>(rng() % 60), mode != 3));
    INFO("iteration " << i << ", timeout " << timeout_us << " us");
    REQUIRE(resumed == 1);
    const std::size_t left = t::drain(sock);
    if (!e) {
      REQUIRE(mode != 3);
      REQUIRE(n == 1);
      REQUIRE(buf[0] == 'z');
      REQUIRE(left == 0);
      ++out->values;
    } else {
      REQUIRE(e == std::errc::timed_out);
      REQUIRE(mode != 2);
      REQUIRE(left == (mode == 3 ? 0u : 1u));
      ++out->timed_out;
    }
  }
}

TEST_CASE("a deadline racing completion: value or timed_out, resumed once, no byte lost", "[cancel][timeout][race]") {
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  tally out;
  const std::size_t n = t::scaled(5000, 4);
  runtime rt;
  rt.run([&]() -> task<void> { co_await timeout_race_loop(sock.get(), peer.get(), n, &out); }());
  std::printf("timeout race: %zu values, %zu timed_out\n", out.values, out.timed_out);
  CHECK(out.values + out.timed_out == n);
  CHECK(out.values > 0);
  CHECK(out.timed_out > 0);
  CHECK(rt.sched().timers_armed() == 0);
}

task<void> sleep_recorded(std::int64_t us, stop_token tok, std::error_code* e, int* resumed) {
  auto r = co_await sleep_for(std::chrono::microseconds(us)).with_token(std::move(tok));
  ++*resumed;
  *e = error_of(r);
}

task<void> sleep_race_loop(std::size_t iterations, tally* out, std::size_t* canceled) {
  std::mt19937 rng(t::test_seed(0x51ee9));
  for (std::size_t i = 0; i < iterations; ++i) {
    stop_source src;
    std::error_code e;
    int resumed = 0;
    // Every third sleep is long, so its stop can only cancel it.
    const std::int64_t us = i % 3 == 0 ? 3'600'000'000 : static_cast<std::int64_t>(rng() % 50);
    co_await when_all(sleep_recorded(us, src.token(), &e, &resumed),
                      stop_after(&src, static_cast<int>(rng() % 4)));
    REQUIRE(resumed == 1);
    if (i % 3 == 0) REQUIRE(e == std::errc::operation_canceled);
    if (!e) {
      ++out->values;
    } else {
      REQUIRE(e == std::errc::operation_canceled);
      ++*canceled;
    }
  }
}

TEST_CASE("a sleep racing its cancel: it either slept or is operation_canceled, resumed once",
          "[cancel][timeout][sleep][race]") {
  tally out;
  std::size_t canceled = 0;
  const std::size_t n = t::scaled(5000, 4);
  run([&]() -> task<void> { co_await sleep_race_loop(n, &out, &canceled); }());
  std::printf("sleep race: %zu slept, %zu operation_canceled\n", out.values, canceled);
  CHECK(out.values + canceled == n);
  CHECK(canceled > 0);
}

// ---- sleeps -------------------------------------------------------------------------------------

task<void> sleeper(clock_type::time_point until, int index, std::vector<int>* order, int* early) {
  auto r = co_await sleep_until(until);
  REQUIRE(r);
  if (clock_type::now() < until) ++*early;
  order->push_back(index);
}

task<void> many_sleeps(std::vector<int>* order, int* early) {
  constexpr int count = 64;
  std::vector<int> indices(count);
  for (int i = 0; i < count; ++i) indices[i] = i;
  std::shuffle(indices.begin(), indices.end(), std::mt19937(t::test_seed(7)));
  const auto base = clock_type::now() + 5ms;
  std::vector<task<void>> sleepers;
  // Sleeper i wakes at base + i ms; they are started in shuffled order.
  for (int i : indices) sleepers.push_back(sleeper(base + std::chrono::milliseconds(i), i, order, early));
  co_await when_all(std::move(sleepers));
}

TEST_CASE("many sleeps wake in deadline order, none before its time", "[cancel][sleep]") {
  std::vector<int> order;
  int early = 0;
  run([&]() -> task<void> { co_await many_sleeps(&order, &early); }());
  REQUIRE(order.size() == 64);
  CHECK(std::is_sorted(order.begin(), order.end()));
  CHECK(early == 0);
}

task<void> sleeps_cancellable(int* checked) {
  stop_source a, b;
  std::error_code ea, eb;
  auto for_ = [](stop_token tok, std::error_code* e) -> task<void> {
    auto r = co_await sleep_for(1h).with_token(std::move(tok));
    *e = error_of(r);
  };
  auto until = [](stop_token tok, std::error_code* e) -> task<void> {
    auto r = co_await sleep_until(clock_type::now() + 1h).with_token(std::move(tok));
    *e = error_of(r);
  };
  co_await when_all(for_(a.token(), &ea), until(b.token(), &eb), stop_after(&a, 2), stop_after(&b, 4));
  CHECK(ea == std::errc::operation_canceled);
  CHECK(eb == std::errc::operation_canceled);

  // Zero and past times complete at once, successfully.
  auto zero = co_await sleep_for(0ms);
  CHECK(zero);
  auto negative = co_await sleep_for(-5ms);
  CHECK(negative);
  auto past = co_await sleep_until(clock_type::now() - 1s);
  CHECK(past);
  ++*checked;
}

TEST_CASE("sleep_for and sleep_until are cancellable; zero and past sleeps complete at once", "[cancel][sleep]") {
  int checked = 0;
  run([&]() -> task<void> { co_await sleeps_cancellable(&checked); }());
  CHECK(checked == 1);
}

task<void> lock_times_out(int fd, int* checked) {
  auto r = co_await couring::lock(fd, lock_mode::exclusive).with_timeout(20ms);
  REQUIRE_FALSE(r);
  CHECK(r.error() == std::errc::timed_out);
  ++*checked;
}

TEST_CASE("a lock that cannot be had before its deadline is timed_out and not held", "[cancel][timeout][lock]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("lock", 1);
  unique_fd holder(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  unique_fd waiter(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(::flock(holder.get(), LOCK_EX | LOCK_NB) == 0);
  int checked = 0;
  run([&]() -> task<void> { co_await lock_times_out(waiter.get(), &checked); }());
  CHECK(checked == 1);
  REQUIRE(::flock(holder.get(), LOCK_UN) == 0);
  unique_fd third(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  CHECK(::flock(third.get(), LOCK_EX | LOCK_NB) == 0);  // the timed-out waiter holds nothing
}

}  // namespace
