// The opcode allow-list (runtime_config::uring_allowed_requests): an io_uring ring registered
// with IORING_REGISTER_RESTRICTIONS accepts only the declared kinds (and what the backend itself
// needs); anything else fails with permission_denied, a plain error the program can handle, and
// the ring keeps serving the declared kinds. The thread pool has no ring to restrict: there, and
// for kinds the io_uring backend emulates (which never reach the ring), every op runs.
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

using namespace couring;
using namespace couring::testing;
using namespace std::chrono_literals;

namespace {

runtime_config allowing(std::vector<std::string> kinds) {
  runtime_config c;
  c.shards = 1;
  c.uring_allowed_requests = std::move(kinds);
  return c;
}

// Whether a request of this kind reaches the restricted ring (a native kind on io_uring).
bool reaches_ring(std::size_t kind) {
  return runtime::current()->backend() == backend_kind::io_uring && runs_natively(kind);
}

}  // namespace

TEST_CASE("a ring that allows only reads refuses other opcodes with permission_denied and keeps reading",
          "[uring][restrictions]") {
  fd_leak_check leaks;
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 4096);
  unique_fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(fd.valid());
  runtime rt(allowing({"read"}));
  if (rt.backend() == backend_kind::io_uring) CHECK(rt.backend_reason().find("restricted") != std::string::npos);
  rt.run([&]() -> task<void> {
    std::array<std::byte, 64> buf{};
    auto first = co_await read_at(fd.get(), buffer(buf), 0);
    REQUIRE(first);
    CHECK(*first == 64);

    auto opened = co_await couring::open(path.c_str(), O_RDONLY);
    if (reaches_ring(request_index<openat_req>())) {
      REQUIRE_FALSE(opened);
      CHECK(opened.error() == std::errc::permission_denied);
      CHECK(opened.error().message() == std::generic_category().message(EACCES));
    } else {
      CHECK(opened);  // never reached a ring: nothing to refuse it
    }
    std::string text = "undeclared";
    auto written = co_await write_at(fd.get(), const_buffer_of(text), 0);
    if (reaches_ring(request_index<write_req>())) {
      REQUIRE_FALSE(written);
      CHECK(written.error() == std::errc::permission_denied);
    } else {
      CHECK(written);
    }

    // The refusals broke nothing: the declared kind still works.
    for (int i = 0; i < 10; ++i) {
      auto again = co_await read_at(fd.get(), buffer(buf), i * 64);
      REQUIRE(again);
      CHECK(*again == 64);
    }
  }());
}

TEST_CASE("a refused member of a chain is reported like any other failure", "[uring][restrictions][chain]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 4096);
  unique_fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(fd.valid());
  runtime rt(allowing({"read"}));
  rt.run([&]() -> task<void> {
    std::array<std::byte, 64> a{}, c{};
    std::string b = "undeclared";
    auto [ra, rb, rc] = co_await chain(read_at(fd.get(), buffer(a), 0), write_at(fd.get(), const_buffer_of(b), 0),
                                       read_at(fd.get(), buffer(c), 0));
    if (reaches_ring(request_index<write_req>())) {
      // Every member completes exactly once with a definite outcome; the refused one says why.
      REQUIRE_FALSE(rb);
      CHECK(rb.error() == std::errc::permission_denied);
      REQUIRE_FALSE(rc);
      CHECK(rc.error() == std::errc::operation_canceled);
      CHECK((ra || ra.error() == std::errc::operation_canceled));
    } else {
      CHECK(ra);
      CHECK(rb);
      CHECK(rc);
    }
  }());
}

TEST_CASE("an accept_stream on a ring that forbids accept reports permission_denied without retrying in a loop",
          "[uring][restrictions][accept_stream]") {
  fd_leak_check leaks;
  runtime rt(allowing({"read"}));
  rt.run([&]() -> task<void> {
    auto [listener, at] = listen_on_loopback();
    const std::size_t multishot_kind = request_index<accept_multishot_req>();
    backend_stats before = shard_stats();
    accept_stream incoming(listener);
    if (!incoming.multishot() || !reaches_ring(multishot_kind)) {
      // Accepts that never reach the ring are not restricted: connections come through.
      auto client = co_await tcp_stream::connect(at);
      REQUIRE(client);
      auto server = co_await incoming.next();
      CHECK(server);
      co_return;
    }
    auto first = co_await incoming.next();
    REQUIRE_FALSE(first);
    CHECK(first.error() == std::errc::permission_denied);
    for (int i = 0; i < 200; ++i) co_await yield();
    // Re-arming at once would only be refused again, forever: the stream waits for the consumer.
    CHECK(shard_stats().submitted[multishot_kind] - before.submitted[multishot_kind] <= 2);
    auto second = co_await incoming.next();  // asked again: tried again, refused again
    REQUIRE_FALSE(second);
    CHECK(second.error() == std::errc::permission_denied);
  }());
}

TEST_CASE("allowing \"couring\" lets every kind couring issues through", "[uring][restrictions]") {
  fd_leak_check leaks;
  temp_dir dir;
  std::string path = dir.file("data");
  runtime rt(allowing({"couring"}));
  rt.run([&]() -> task<void> {
    std::vector<std::string> refused;
    auto note = [&refused](const char* what, const std::error_code& e) {
      if (e == std::errc::permission_denied) refused.emplace_back(what);
    };
    auto opened = co_await couring::open(path.c_str(), O_RDWR | O_CREAT, 0600);
    REQUIRE(opened);
    const int fd = opened->get();
    std::string text = "allowed";
    auto w = co_await write_at(fd, const_buffer_of(text), 0);
    if (!w) note("write", w.error());
    auto s = co_await couring::fsync(fd);
    if (!s) note("fsync", s.error());
    auto st = co_await fstatx(fd);
    if (!st) note("statx", st.error());
    std::array<std::byte, 16> buf{};
    auto r = co_await read_at(fd, buffer(buf), 0).with_timeout(10s);  // and LINK_TIMEOUT
    if (!r) note("read with a timeout", r.error());
    auto [c1, c2] = co_await chain(read_at(fd, buffer(buf), 0), read_at(fd, buffer(buf), 0));  // IO_LINK
    if (!c1) note("chain", c1.error());
    if (!c2) note("chain", c2.error());
    std::vector<std::byte> registered(4096);
    fixed_buffers fb({buffer(registered)});
    auto rf = co_await fb.read_at(fd, 0, 0);
    if (!rf) note("read_fixed", rf.error());
    file_table files(2);
    auto slot = co_await files.open(path.c_str(), O_RDONLY);
    if (!slot) note("openat into a slot", slot.error());

    auto [listener, at] = listen_on_loopback();
    accept_stream incoming(listener);
    auto client = co_await tcp_stream::connect(at);  // socket + connect
    if (!client) note("connect", client.error());
    auto server = co_await incoming.next();
    if (!server) note("multishot accept", server.error());
    if (client && server) {
      auto z = co_await send_zc(client->fd(), const_buffer_of(text));
      if (!z) note("send_zc", z.error());
      auto sent = co_await send_file(client->fd(), fd, 0, text.size());  // splice
      if (!sent) note("send_file", sent.error());
      auto down = co_await client->shutdown();
      if (!down) note("shutdown", down.error());
      buffer_pool pool(4, 4096);
      recv_stream in(*server, pool);
      std::size_t got = 0;
      for (;;) {
        auto chunk = co_await in.next();
        if (!chunk) {
          if (chunk.error() != error::end_of_file) note("multishot recv", chunk.error());
          break;
        }
        got += chunk->size();
      }
      CHECK(got == 2 * text.size());
    }
    auto closed = co_await couring::close(std::move(*opened));
    if (!closed) note("close", closed.error());
    std::string all;
    for (auto& what : refused) all += what + " ";
    INFO("refused: " << all);
    CHECK(refused.empty());
  }());
}

TEST_CASE("an allow-list naming an unknown request kind is refused on every backend", "[uring][restrictions]") {
  // Even where no ring is ever built (the thread pool): a typo must not wait for io_uring.
  CHECK_THROWS_AS(runtime(allowing({"read", "no_such_kind"})), std::invalid_argument);
}
