// recv_stream over a deliberately tiny buffer_pool (4 buffers of 4 KiB): the kernel runs out of
// buffers all the time (ENOBUFS), the stream pauses and re-arms, and 100 MiB still arrive
// byte-exact and in order, without spinning. The same holds where the stream receives itself.
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

using namespace couring;
using namespace couring::testing;

namespace {

constexpr unsigned tiny_count = 4;
constexpr std::size_t tiny_size = 4096;

// Sends `total` bytes of stream `seed` in pieces of `piece`, then shuts down its side.
task<void> send_stream(int fd, std::size_t total, std::uint64_t seed, std::size_t piece) {
  std::vector<std::byte> buf(piece);
  for (std::size_t sent = 0; sent < total;) {
    std::size_t n = std::min(piece, total - sent);
    fill_stream(buf.data(), n, seed, sent);
    auto r = co_await send_all(fd, const_buffer(buf.data(), n));
    REQUIRE(r);
    sent += n;
  }
  auto down = co_await couring::shutdown(fd, SHUT_WR);
  REQUIRE(down);
}

struct received {
  std::size_t bytes = 0;
  std::size_t chunks = 0;
  std::size_t most_held = 0;
};

// Takes chunks until end of file, checking each against the stream at its position. It keeps up
// to three chunks before giving the oldest back (the pool has four), so the kernel finds the pool
// empty again and again.
task<received> receive_stream(recv_stream* in, std::uint64_t seed) {
  received got;
  std::deque<pooled_buffer> held;
  for (;;) {
    auto chunk = co_await in->next();
    if (!chunk) {
      REQUIRE(chunk.error() == error::end_of_file);
      break;
    }
    if (chunk->size() == 0 || chunk->size() > tiny_size) FAIL("a chunk of " << chunk->size() << " bytes");
    std::size_t bad = first_stream_mismatch(chunk->data(), chunk->size(), seed, got.bytes);
    if (bad != chunk->size()) FAIL("byte " << got.bytes + bad << " differs from what was sent");
    got.bytes += chunk->size();
    ++got.chunks;
    held.push_back(std::move(*chunk));
    while (held.size() > got.chunks % tiny_count) held.pop_front();  // holds 0..3, varying
    got.most_held = std::max(got.most_held, held.size());
  }
  co_return got;
}

}  // namespace

TEST_CASE("100 MiB through a 4 x 4 KiB buffer pool arrive byte-exact, in order, without spinning",
          "[uring][recv_stream][buffer_pool][enobufs]") {
  fd_leak_check leaks;
  const std::size_t total = scaled(100u << 20);  // an eighth under sanitizers
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    buffer_pool pool(tiny_count, tiny_size);
    const std::size_t multishot_kind = request_index<recv_multishot_req>(), recv_kind = request_index<recv_req>();
    backend_stats before = shard_stats();
    received got;
    {
      recv_stream in(conn->far, pool);
      CHECK(in.multishot() == (pool.kernel_selects() && runs_natively(multishot_kind)));
      auto [sent, r] = co_await when_all(send_stream(conn->near.fd(), total, 1, 256 * 1024), receive_stream(&in, 1));
      (void)sent;
      got = r;
      backend_stats after = shard_stats();
      const std::uint64_t arms = after.submitted[multishot_kind] - before.submitted[multishot_kind];
      const std::uint64_t recvs = after.submitted[recv_kind] - before.submitted[recv_kind];
      INFO("chunks " << got.chunks << ", multishot arms " << arms << ", recvs " << recvs);
      if (in.multishot()) {
        // 16 KiB of buffers cannot hold 100 MiB: the kernel ran dry and the stream re-armed...
        CHECK(arms >= 2);
        // ...but only once buffers were back: every arm delivered at least one chunk.
        CHECK(arms <= got.chunks);
        CHECK(recvs == 0);
      } else {
        CHECK(arms == 0);
        CHECK(recvs <= got.chunks + 1);  // one recv per chunk, and the one that saw end of file
      }
    }
    CHECK(got.bytes == total);
    CHECK(got.most_held == tiny_count - 1);
    CHECK(pool.available() == tiny_count);  // every buffer is back
  }());
}

TEST_CASE("a stream whose every buffer is held pauses, keeps the bytes in the socket, and resumes",
          "[uring][recv_stream][buffer_pool][enobufs]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    buffer_pool pool(tiny_count, tiny_size);
    recv_stream in(conn->far, pool);
    CHECK(pool.available() == tiny_count);  // an idle stream owns no buffer
    const std::size_t total = 64 * 1024;
    std::vector<std::byte> data(total);
    fill_stream(data.data(), total, 2, 0);
    auto sent = co_await send_all(conn->near.fd(), const_buffer(data.data(), total));
    REQUIRE(sent);

    std::vector<pooled_buffer> all_held;
    std::size_t position = 0;
    while (all_held.size() < tiny_count) {
      auto chunk = co_await in.next();
      REQUIRE(chunk);
      CHECK(first_stream_mismatch(chunk->data(), chunk->size(), 2, position) == chunk->size());
      position += chunk->size();
      all_held.push_back(std::move(*chunk));
    }
    CHECK(pool.available() == 0);
    for (int y = 0; y < 50; ++y) co_await yield();  // the kernel finds no buffer meanwhile
    CHECK(pool.available() == 0);
    all_held.clear();  // buffers back: the stream goes on where it stopped
    auto down = co_await couring::shutdown(conn->near.fd(), SHUT_WR);
    REQUIRE(down);
    for (;;) {
      auto chunk = co_await in.next();
      if (!chunk) {
        CHECK(chunk.error() == error::end_of_file);
        break;
      }
      CHECK(first_stream_mismatch(chunk->data(), chunk->size(), 2, position) == chunk->size());
      position += chunk->size();
    }
    CHECK(position == total);
    CHECK(pool.available() == tiny_count);
  }());
}

TEST_CASE("stop() ends a recv_stream with operation_canceled and gives every buffer back", "[uring][recv_stream]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    buffer_pool pool(tiny_count, tiny_size);
    recv_stream in(conn->far, pool);
    std::string hello = "hello";
    auto sent = co_await send_all(conn->near.fd(), const_buffer_of(hello));
    REQUIRE(sent);
    auto first = co_await in.next();
    REQUIRE(first);
    CHECK(std::string(reinterpret_cast<const char*>(first->data()), first->size()) == hello);
    first->release();
    auto more = co_await send_all(conn->near.fd(), const_buffer_of(hello));  // received, never taken
    REQUIRE(more);
    for (int y = 0; y < 10; ++y) co_await yield();
    in.stop();
    auto after = co_await in.next();
    REQUIRE_FALSE(after);
    CHECK(after.error() == std::errc::operation_canceled);
    for (int y = 0; y < 10; ++y) co_await yield();  // the armed op's cancellation completes
    CHECK(pool.available() == tiny_count);
  }());
}

TEST_CASE("idle connections hold no pool buffer, so more idle streams than buffers never starve a busy one",
          "[uring][recv_stream][buffer_pool]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    constexpr unsigned buffers = 2, idle = 6;
    buffer_pool pool(buffers, tiny_size);
    std::vector<loopback_connection> conns;
    std::vector<std::unique_ptr<recv_stream>> streams;
    for (unsigned i = 0; i < idle + 1; ++i) {
      auto c = co_await loopback_tcp();
      REQUIRE(c);
      conns.push_back(std::move(*c));
      streams.push_back(std::make_unique<recv_stream>(conns.back().far, pool));
    }
    for (int y = 0; y < 20; ++y) co_await yield();  // every stream is armed and waiting
    CHECK(pool.available() == buffers);
    std::string ping = "ping";
    auto sent = co_await send_all(conns.back().near.fd(), const_buffer_of(ping));
    REQUIRE(sent);
    auto got = co_await when_any(streams.back()->next(), sleep_for(std::chrono::seconds(10)));
    REQUIRE(got.index == 0);
    auto& chunk = std::get<0>(got.value);
    REQUIRE(chunk);
    CHECK(std::string(reinterpret_cast<const char*>(chunk->data()), chunk->size()) == ping);
  }());
}

TEST_CASE("a buffer_pool refuses counts that are not powers of two and zero sizes", "[uring][buffer_pool]") {
  run([&]() -> task<void> {
    CHECK_THROWS_AS(buffer_pool(3, 4096), std::invalid_argument);
    CHECK_THROWS_AS(buffer_pool(0, 4096), std::invalid_argument);
    CHECK_THROWS_AS(buffer_pool(65536, 4096), std::invalid_argument);
    CHECK_THROWS_AS(buffer_pool(4, 0), std::invalid_argument);
    co_return;
  }());
}
