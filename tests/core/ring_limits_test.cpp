// nop, and the io_uring limits that must never lose an op: more ops in flight than SQ entries,
// and more completions than the CQ holds. On the other backends the same programs must simply work.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <array>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::pattern_byte;
using couring::testing::request_index;
using couring::testing::temp_dir;

namespace {

struct counts {
  std::vector<int> resumed;
  std::size_t finished = 0;
  std::size_t wrong = 0;
  explicit counts(std::size_t n) : resumed(n, 0) {}
};

task<void> nop_once(std::size_t id, counts* c) {
  auto r = co_await nop();
  if (!r) ++c->wrong;
  ++c->resumed[id];
  ++c->finished;
}

task<void> read_block(std::size_t id, int fd, counts* c) {
  std::array<std::uint8_t, 64> buf{};
  auto r = co_await couring::read_at(fd, buffer(buf), static_cast<std::int64_t>(id * 64));
  if (!r || *r != buf.size()) ++c->wrong;
  else {
    for (std::size_t k = 0; k < buf.size(); ++k) {
      if (buf[k] != pattern_byte(id * 64 + k)) {
        ++c->wrong;
        break;
      }
    }
  }
  ++c->resumed[id];
  ++c->finished;
}

std::array<char, 16> message_of(std::size_t id) {
  std::array<char, 16> m{};
  std::string text = "msg-" + std::to_string(id);
  text.copy(m.data(), m.size());
  return m;
}

// Waits for its own message: in flight until the sender gets to it.
task<void> recv_id(std::size_t id, int fd, counts* c) {
  std::array<char, 16> buf{};
  auto r = co_await recv_exactly(fd, buffer(buf));
  if (!r || buf != message_of(id)) ++c->wrong;
  ++c->resumed[id];
  ++c->finished;
}

// Starts `n` recvs (all blocked), `n` nops and `n` file reads, then feeds the recvs one by one.
task<void> flood(std::size_t n, const std::string& pattern_path, counts& recvs, counts& nops, counts& reads) {
  std::vector<unix_stream> senders, receivers;
  for (std::size_t i = 0; i < n; ++i) {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    senders.push_back(std::move(pair->first));
    receivers.push_back(std::move(pair->second));
  }
  auto f = co_await file::open(pattern_path.c_str(), O_RDONLY);
  REQUIRE(f);
  for (std::size_t i = 0; i < n; ++i) spawn(recv_id(i, receivers[i].fd(), &recvs));
  for (std::size_t i = 0; i < n; ++i) spawn(nop_once(i, &nops));
  for (std::size_t i = 0; i < n; ++i) spawn(read_block(i, f->fd(), &reads));
  co_await yield();  // every spawned task is now suspended in its first op
  for (std::size_t i = 0; i < n; ++i) {
    const std::array<char, 16> msg = message_of(i);
    auto s = co_await send_all(senders[i].fd(), const_buffer_of(msg));
    REQUIRE(s);
  }
  while (recvs.finished < n || nops.finished < n || reads.finished < n) co_await yield();
}

void check_all_once(const counts& c, std::size_t n) {
  CHECK(c.finished == n);
  CHECK(c.wrong == 0);
  CHECK(static_cast<std::size_t>(std::count(c.resumed.begin(), c.resumed.end(), 1)) == n);
}

}  // namespace

TEST_CASE("nop completes successfully and resumes its awaiter exactly once", "[core][nop]") {
  counts c(1000);
  run([&]() -> task<void> {
    for (std::size_t i = 0; i < 1000; ++i) co_await nop_once(i, &c);
  }());
  check_all_once(c, 1000);
}

TEST_CASE("a nop awaited with a stopped token completes with operation_canceled without reaching the backend",
          "[core][nop][cancel]") {
  runtime rt;
  std::uint64_t before = 0, after = 0;
  rt.run([&]() -> task<void> {
    stop_source src;
    src.request_stop();
    before = rt.stats().submitted[request_index<nop_req>()];
    auto r = co_await nop().with_token(src.token());
    after = rt.stats().submitted[request_index<nop_req>()];
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::operation_canceled);
  }());
  CHECK(after == before);
}

TEST_CASE("with an SQ of 4 entries, thousands of ops in flight all complete with their own results",
          "[core][ring][sq]") {
  temp_dir dir;
  constexpr std::size_t n = 1500;
  std::string path = dir.make_pattern_file("p", n * 64);
  counts recvs(n), nops(n), reads(n);
  {
    fd_leak_check leaks;
    runtime_config config;
    config.sq_entries = 4;
    runtime rt(config);
    rt.run(flood(n, path, recvs, nops, reads));
    if (rt.backend() == backend_kind::io_uring) {
      // Every op went through a 4-entry SQ: the loop had to flush many times.
      CHECK(rt.stats().enters > n / 4);
    }
  }
  check_all_once(recvs, n);
  check_all_once(nops, n);
  check_all_once(reads, n);
}

TEST_CASE("with a CQ of 4 entries, thousands of completions arriving at once are all delivered",
          "[core][ring][cq]") {
  temp_dir dir;
  constexpr std::size_t n = 3000;
  std::string path = dir.make_pattern_file("p", n * 64);
  counts recvs(n), nops(n), reads(n);
  bool overflow_expected = false;
  std::uint64_t overflows = 0;
  {
    fd_leak_check leaks;
    runtime_config config;
    config.sq_entries = 2;
    config.cq_entries = 4;
    runtime rt(config);
    rt.run(flood(n, path, recvs, nops, reads));
    // Only a native io_uring nop posts its CQE at once; emulated and pool nops need no CQ.
    overflow_expected = rt.backend() == backend_kind::io_uring && rt.stats().fallbacks[request_index<nop_req>()] == 0;
    overflows = rt.stats().cq_overflows;
  }
  check_all_once(recvs, n);
  check_all_once(nops, n);
  check_all_once(reads, n);
  if (overflow_expected) CHECK(overflows > 0);
}

TEST_CASE("with a worker queue of 2 entries, thousands of blocking ops wait their turn and all complete",
          "[core][pool][backpressure]") {
  temp_dir dir;
  constexpr std::size_t n = 3000;
  std::string path = dir.make_pattern_file("p", n * 64);
  counts reads(n);
  std::size_t high_water = 0, capacity = 0;
  {
    fd_leak_check leaks;
    runtime_config config;
    config.pool_threads = 2;
    config.pool_queue_capacity = 2;
    runtime rt(config);
    rt.run([&]() -> task<void> {
      auto f = co_await file::open(path.c_str(), O_RDONLY);
      REQUIRE(f);
      for (std::size_t i = 0; i < n; ++i) spawn(read_block(i, f->fd(), &reads));
      while (reads.finished < n) co_await yield();
    }());
    high_water = rt.pool().queue_high_water;
    capacity = rt.pool().queue_capacity;
  }
  check_all_once(reads, n);
  CHECK(capacity == 2);
  CHECK(high_water <= capacity);  // the bound held: the rest waited, parked, in their frames
}
