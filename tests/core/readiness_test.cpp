// poll(): one-shot readiness, with the same events on every backend.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <string>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::make_pipe;

namespace {

task<void> send_after_yields(int fd, std::string text) {
  co_await yield();
  co_await yield();
  auto s = co_await couring::send(fd, const_buffer_of(text));
  REQUIRE(s);
}

task<void> poll_and_count(int fd, unsigned events, int* woken, unsigned* seen) {
  auto r = co_await couring::poll(fd, events);
  REQUIRE(r);
  *seen |= *r;
  ++*woken;
}

}  // namespace

TEST_CASE("poll for POLLOUT on a fresh connected socket reports it writable at once", "[core][poll]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto r = co_await couring::poll(pair->first.fd(), POLLOUT);
    REQUIRE(r);
    CHECK((*r & POLLOUT) != 0);
    CHECK((*r & POLLIN) == 0);  // not asked for, and nothing to read
  }());
}

TEST_CASE("poll for POLLIN waits until bytes arrive, reports POLLIN and leaves the bytes in place",
          "[core][poll]") {
  fd_leak_check leaks;
  int resumed = 0;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    spawn(send_after_yields(pair->second.fd(), "wake up"));
    auto r = co_await couring::poll(pair->first.fd(), POLLIN);
    ++resumed;
    REQUIRE(r);
    CHECK((*r & POLLIN) != 0);
    std::array<char, 64> buf{};
    auto got = co_await pair->first.recv(buffer(buf));
    REQUIRE(got);
    CHECK(std::string(buf.data(), *got) == "wake up");
  }());
  CHECK(resumed == 1);
}

TEST_CASE("poll for POLLRDHUP reports that the peer shut down its write side", "[core][poll]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    auto c = co_await tcp_stream::connect(*l->local_endpoint());
    REQUIRE(c);
    auto s = co_await l->accept();
    REQUIRE(s);
    auto sd = co_await c->shutdown(SHUT_WR);
    REQUIRE(sd);
    auto r = co_await couring::poll(s->fd(), POLLRDHUP);
    REQUIRE(r);
    CHECK((*r & POLLRDHUP) != 0);
  }());
}

TEST_CASE("poll on a pipe whose writer closed reports POLLHUP", "[core][poll]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    pipe.wr.reset();
    auto r = co_await couring::poll(pipe.rd.get(), POLLIN);
    REQUIRE(r);
    CHECK((*r & POLLHUP) != 0);
  }());
}

TEST_CASE("poll on a pipe's write end reports POLLOUT; on its read end with data, POLLIN", "[core][poll]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    auto w = co_await couring::poll(pipe.wr.get(), POLLOUT);
    REQUIRE(w);
    CHECK((*w & POLLOUT) != 0);
    std::string one = "1";
    auto written = co_await couring::write(pipe.wr.get(), const_buffer_of(one));
    REQUIRE(written);
    auto r = co_await couring::poll(pipe.rd.get(), POLLIN | POLLOUT);
    REQUIRE(r);
    CHECK((*r & POLLIN) != 0);
  }());
}

TEST_CASE("every coroutine polling the same descriptor is woken once by one event", "[core][poll]") {
  fd_leak_check leaks;
  constexpr int pollers = 8;
  int woken = 0;
  unsigned seen = 0;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    for (int i = 0; i < pollers; ++i) spawn(poll_and_count(pair->first.fd(), POLLIN, &woken, &seen));
    co_await yield();
    CHECK(woken == 0);
    std::string byte = "x";
    auto s = co_await pair->second.send(const_buffer_of(byte));
    REQUIRE(s);
    while (woken < pollers) co_await yield();
  }());
  CHECK(woken == pollers);
  CHECK((seen & POLLIN) != 0);
}

TEST_CASE("poll on a closed descriptor fails with bad_file_descriptor", "[core][poll]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    int stale = couring::testing::closed_fd_number();
    auto r = co_await couring::poll(stale, POLLIN);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::bad_file_descriptor);
    auto negative = co_await couring::poll(-1, POLLIN);
    REQUIRE_FALSE(negative);
    CHECK(negative.error() == std::errc::bad_file_descriptor);
  }());
}
