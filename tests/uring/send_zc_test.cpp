// send_zc: the awaitable completes only once the kernel no longer reads the buffer (io_uring:
// after the notification CQE; elsewhere a copying send), so a sender may overwrite the buffer as
// soon as co_await returns. The peer must receive the original bytes, never the poison written
// right after each completion.
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

using namespace couring;
using namespace couring::testing;

namespace {

constexpr std::size_t message_size = 4u << 20;
const std::size_t rounds = under_sanitizer ? 3 : 16;  // 64 MiB in all; 12 MiB under sanitizers
constexpr std::byte poison{0xEE};

struct send_record {
  std::size_t calls = 0;
};

// Round r sends stream r from one buffer, then poisons each piece the moment its send_zc
// completes: from then on the kernel must not read it.
task<void> send_rounds(int fd, send_record* record) {
  std::vector<std::byte> buf(message_size);
  for (std::size_t r = 0; r < rounds; ++r) {
    fill_stream(buf.data(), buf.size(), r, 0);
    for (std::size_t done = 0; done < buf.size();) {
      auto n = co_await send_zc(fd, const_buffer(buf.data() + done, buf.size() - done));
      REQUIRE(n);
      REQUIRE(*n > 0);
      std::memset(buf.data() + done, static_cast<int>(poison), *n);
      done += *n;
      ++record->calls;
    }
  }
}

// Receives everything and counts the bytes that differ from what each round sent.
task<std::size_t> receive_rounds(int fd, std::size_t* wrong) {
  std::vector<std::byte> buf(256 * 1024);
  const std::size_t total = rounds * message_size;
  std::size_t position = 0;
  while (position < total) {
    auto n = co_await recv(fd, buffer(buf.data(), std::min(buf.size(), total - position)));
    REQUIRE(n);
    REQUIRE(*n > 0);
    for (std::size_t i = 0; i < *n;) {
      // A piece may straddle two rounds: check each part against its own stream.
      std::size_t round = (position + i) / message_size, offset = (position + i) % message_size;
      std::size_t part = std::min(*n - i, message_size - offset);
      std::size_t ok = first_stream_mismatch(buf.data() + i, part, round, offset);
      if (ok != part) {
        for (std::size_t j = ok; j < part; ++j)
          *wrong += buf[i + j] != static_cast<std::byte>(stream_byte(round, offset + j));
      }
      i += part;
    }
    position += *n;
  }
  co_return position;
}

}  // namespace

TEST_CASE("send_zc: a buffer poisoned as soon as each send completes still reaches the peer intact",
          "[uring][send_zc]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    const std::size_t zc_kind = request_index<send_zc_req>();
    backend_stats before = shard_stats();
    send_record record;
    std::size_t wrong = 0;
    auto [sent, received] = co_await when_all(send_rounds(conn->near.fd(), &record), receive_rounds(conn->far.fd(), &wrong));
    (void)sent;
    CHECK(received == rounds * message_size);
    CHECK(wrong == 0);
    // Each send_zc resumed its sender exactly once, however many completions the kernel sent.
    backend_stats after = shard_stats();
    CHECK(after.submitted[zc_kind] - before.submitted[zc_kind] == record.calls);
    CHECK(after.completed[zc_kind] - before.completed[zc_kind] == record.calls);
  }());
}

TEST_CASE("send_zc to a peer that has gone fails with EPIPE or a reset, never SIGPIPE", "[uring][send_zc]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    conn->far = tcp_stream();  // closed
    std::vector<std::byte> buf(64 * 1024, std::byte{1});
    std::error_code failure;
    // The first sends may still be accepted by the kernel; once it knows of the close they fail.
    for (int i = 0; i < 100 && !failure; ++i) {
      auto n = co_await send_zc(conn->near.fd(), const_buffer(buf.data(), buf.size()));
      if (!n) failure = n.error();
    }
    CHECK((failure == std::errc::broken_pipe || failure == std::errc::connection_reset));
  }());
}

TEST_CASE("send_zc rejects a bad descriptor and sends nothing for an empty buffer", "[uring][send_zc]") {
  run([&]() -> task<void> {
    std::byte b{};
    auto bad = co_await send_zc(-1, const_buffer(&b, 1));
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == std::errc::bad_file_descriptor);
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    auto empty = co_await send_zc(conn->near.fd(), const_buffer{});
    REQUIRE(empty);
    CHECK(*empty == 0);
  }());
}
