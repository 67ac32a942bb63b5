// Reads and writes on pipes: the "current position" verbs on descriptors that cannot seek.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::make_pipe;

namespace {

task<void> write_later(int fd, std::string text, int* writes) {
  co_await yield();  // let the reader block first
  co_await yield();
  auto w = co_await couring::write(fd, const_buffer_of(text));
  REQUIRE(w);
  REQUIRE(*w == text.size());
  ++*writes;
}

}  // namespace

TEST_CASE("bytes written to a pipe arrive at reads in order", "[core][pipe][read][write]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    std::string a = "first ", b = "second";
    auto w1 = co_await couring::write(pipe.wr.get(), const_buffer_of(a));
    auto w2 = co_await couring::write(pipe.wr.get(), const_buffer_of(b));
    REQUIRE(w1);
    REQUIRE(w2);
    CHECK(*w1 == a.size());
    CHECK(*w2 == b.size());
    std::array<char, 64> buf{};
    auto r = co_await couring::read(pipe.rd.get(), buffer(buf));
    REQUIRE(r);
    CHECK(std::string(buf.data(), *r) == "first second");
  }());
}

TEST_CASE("a read on an empty pipe waits for a writer and is resumed exactly once", "[core][pipe][read]") {
  fd_leak_check leaks;
  int writes = 0, resumed = 0;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    spawn(write_later(pipe.wr.get(), "late bytes", &writes));
    std::array<char, 64> buf{};
    auto r = co_await couring::read(pipe.rd.get(), buffer(buf));
    ++resumed;
    REQUIRE(r);
    CHECK(std::string(buf.data(), *r) == "late bytes");
    CHECK(writes == 1);
  }());
  CHECK(resumed == 1);
}

TEST_CASE("a read on a pipe whose write end is closed returns 0", "[core][pipe][read]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    std::string last = "bye";
    auto w = co_await couring::write(pipe.wr.get(), const_buffer_of(last));
    REQUIRE(w);
    pipe.wr.reset();
    std::array<char, 16> buf{};
    auto r1 = co_await couring::read(pipe.rd.get(), buffer(buf));
    REQUIRE(r1);
    CHECK(std::string(buf.data(), *r1) == "bye");
    auto r2 = co_await couring::read(pipe.rd.get(), buffer(buf));
    REQUIRE(r2);
    CHECK(*r2 == 0);
  }());
}

TEST_CASE("a write to a pipe whose read end is closed fails with broken_pipe instead of raising SIGPIPE",
          "[core][pipe][write]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    pipe.rd.reset();
    std::string text = "nobody listens";
    auto w = co_await couring::write(pipe.wr.get(), const_buffer_of(text));
    REQUIRE_FALSE(w);
    CHECK(w.error() == std::errc::broken_pipe);
  }());
}

TEST_CASE("writev and readv on a pipe gather and scatter in order", "[core][pipe][readv][writev]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    std::string a = "ab", b = "cde", c = "f";
    std::array<iovec, 3> out{{{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}}};
    auto w = co_await couring::writev(pipe.wr.get(), out);
    REQUIRE(w);
    CHECK(*w == 6);
    std::array<char, 4> x{};
    std::array<char, 4> y{};
    std::array<iovec, 2> in{{{x.data(), x.size()}, {y.data(), y.size()}}};
    auto r = co_await couring::readv(pipe.rd.get(), in);
    REQUIRE(r);
    CHECK(*r == 6);
    CHECK(std::string(x.data(), 4) == "abcd");
    CHECK(std::string(y.data(), 2) == "ef");
  }());
}

TEST_CASE("a write larger than the pipe's buffer is reported short, as write(2) does, and nothing is lost",
          "[core][pipe][write]") {
  fd_leak_check leaks;
  constexpr std::size_t total = 1 << 20;  // 16 times the default pipe buffer
  std::string received;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    std::vector<char> data(total);
    for (std::size_t i = 0; i < total; ++i) data[i] = static_cast<char>(couring::testing::pattern_byte(i));
    bool writer_done = false;
    auto writer = [&]() -> task<void> {
      std::size_t sent = 0;
      while (sent < total) {
        auto w = co_await couring::write(pipe.wr.get(), buffer(data.data() + sent, total - sent));
        REQUIRE(w);
        REQUIRE(*w > 0);
        sent += *w;
      }
      pipe.wr.reset();
      writer_done = true;
    };
    spawn(writer());
    std::array<char, 8192> buf{};
    for (;;) {
      auto r = co_await couring::read(pipe.rd.get(), buffer(buf));
      REQUIRE(r);
      if (*r == 0) break;
      received.append(buf.data(), *r);
    }
    CHECK(writer_done);
    CHECK(received == std::string(data.begin(), data.end()));
  }());
  CHECK(received.size() == total);
}

TEST_CASE("a positional read or write on a pipe ignores the offset on every backend, as io_uring does",
          "[core][pipe][read][write]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    std::string text = "seekless";
    auto w = co_await couring::write_at(pipe.wr.get(), const_buffer_of(text), 1000);
    REQUIRE(w);
    CHECK(*w == text.size());
    std::array<char, 16> buf{};
    auto r = co_await couring::read_at(pipe.rd.get(), buffer(buf), 1000);
    REQUIRE(r);
    CHECK(std::string(buf.data(), *r) == "seekless");
  }());
}
