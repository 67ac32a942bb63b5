// read_exactly, write_all, send_all, recv_exactly, read_to_end: "all of it or an error", however
// short the individual transfers are.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::make_pipe;
using couring::testing::pattern_byte;
using couring::testing::slurp;
using couring::testing::temp_dir;

namespace {

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(pattern_byte(i));
  return s;
}

// Writes `text` in pieces of `piece` bytes, yielding between them so the reader sees short reads.
task<void> trickle(int fd, std::string text, std::size_t piece, bool close_after) {
  for (std::size_t at = 0; at < text.size(); at += piece) {
    co_await yield();
    auto w = co_await write_all(fd, buffer(text.data() + at, std::min(piece, text.size() - at)));
    REQUIRE(w);
  }
  if (close_after) ::close(fd);
}

}  // namespace

TEST_CASE("read_exactly fills the buffer across many short reads", "[core][transfer][read_exactly]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    std::string text = pattern(1000);
    spawn(trickle(pipe.wr.get(), text, 7, false));
    std::string got(1000, '\0');
    auto r = co_await read_exactly(pipe.rd.get(), buffer(got));
    REQUIRE(r);
    CHECK(got == text);
  }());
}

TEST_CASE("read_exactly reports end_of_file when the stream ends first", "[core][transfer][read_exactly]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    spawn(trickle(pipe.wr.release(), "only ten b", 3, true));
    std::array<char, 20> buf{};
    auto r = co_await read_exactly(pipe.rd.get(), buffer(buf));
    REQUIRE_FALSE(r);
    CHECK(r.error() == couring::error::end_of_file);
    CHECK(std::string(buf.data(), 10) == "only ten b");  // what did arrive is in the buffer
  }());
}

TEST_CASE("read_exactly at an offset reads positionally and stops with end_of_file at the file's end",
          "[core][transfer][read_exactly]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("f", 10000);
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    std::vector<std::uint8_t> buf(5000);
    auto r = co_await read_exactly(f->fd(), buffer(buf), 4000);
    REQUIRE(r);
    for (std::size_t i = 0; i < buf.size(); ++i) {
      if (buf[i] != pattern_byte(4000 + i)) FAIL("byte " << i);
    }
    CHECK(::lseek(f->fd(), 0, SEEK_CUR) == 0);
    auto past = co_await read_exactly(f->fd(), buffer(buf), 8000);
    REQUIRE_FALSE(past);
    CHECK(past.error() == couring::error::end_of_file);
    auto empty = co_await read_exactly(f->fd(), mutable_buffer{}, 0);
    CHECK(empty);
  }());
}

TEST_CASE("read_exactly on a bad descriptor reports the error of the read", "[core][transfer][read_exactly]") {
  run([&]() -> task<void> {
    std::array<char, 4> buf{};
    auto r = co_await read_exactly(-1, buffer(buf));
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::bad_file_descriptor);
  }());
}

TEST_CASE("write_all pushes a megabyte through a pipe whose reader drains it concurrently",
          "[core][transfer][write_all]") {
  fd_leak_check leaks;
  std::string text = pattern(1 << 20);
  std::string got;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    auto reader = [&]() -> task<void> {
      auto r = co_await read_to_end(pipe.rd.get(), got);
      REQUIRE(r);
      CHECK(*r == text.size());
    };
    bool read_done = false;
    auto wrapped = [&]() -> task<void> {
      co_await reader();
      read_done = true;
    };
    spawn(wrapped());
    auto w = co_await write_all(pipe.wr.get(), const_buffer_of(text));
    REQUIRE(w);
    pipe.wr.reset();
    while (!read_done) co_await yield();
  }());
  CHECK(got == text);
}

TEST_CASE("write_all at an offset writes the whole buffer there and leaves the file offset alone",
          "[core][transfer][write_all]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("w");
  std::string text = pattern(300000);
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(f);
    auto w = co_await write_all(f->fd(), const_buffer_of(text), 100);
    REQUIRE(w);
    CHECK(::lseek(f->fd(), 0, SEEK_CUR) == 0);
    auto seq = co_await write_all(f->fd(), const_buffer_of(std::string("head")));
    REQUIRE(seq);
  }());
  std::string back = slurp(path);
  REQUIRE(back.size() == 300100);
  CHECK(back.substr(0, 4) == "head");
  CHECK(back.substr(4, 96) == std::string(96, '\0'));
  CHECK(back.substr(100) == text);
}

TEST_CASE("write_all to a pipe with no reader fails with broken_pipe", "[core][transfer][write_all]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pipe = make_pipe();
    pipe.rd.reset();
    auto w = co_await write_all(pipe.wr.get(), const_buffer_of(std::string("lost")));
    REQUIRE_FALSE(w);
    CHECK(w.error() == std::errc::broken_pipe);
  }());
}

TEST_CASE("send_all and recv_exactly move a megabyte over a socket in both directions",
          "[core][transfer][send_all][recv_exactly]") {
  fd_leak_check leaks;
  std::string text = pattern(1 << 20);
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    bool echoed = false;
    auto echo = [&]() -> task<void> {
      std::string in(text.size(), '\0');
      auto r = co_await recv_exactly(pair->second.fd(), buffer(in));
      REQUIRE(r);
      auto s = co_await send_all(pair->second.fd(), const_buffer_of(in));
      REQUIRE(s);
      echoed = true;
    };
    spawn(echo());
    auto s = co_await send_all(pair->first.fd(), const_buffer_of(text));
    REQUIRE(s);
    std::string back(text.size(), '\0');
    auto r = co_await recv_exactly(pair->first.fd(), buffer(back));
    REQUIRE(r);
    CHECK(echoed);
    CHECK(back == text);
  }());
}

TEST_CASE("recv_exactly reports end_of_file when the peer closes early; send_all to a closed peer fails",
          "[core][transfer][send_all][recv_exactly]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto s = co_await send_all(pair->second.fd(), const_buffer_of(std::string("half")));
    REQUIRE(s);
    auto closed = co_await pair->second.close();
    REQUIRE(closed);
    std::array<char, 8> buf{};
    auto r = co_await recv_exactly(pair->first.fd(), buffer(buf));
    REQUIRE_FALSE(r);
    CHECK(r.error() == couring::error::end_of_file);
    CHECK(std::string(buf.data(), 4) == "half");
    auto lost = co_await send_all(pair->first.fd(), const_buffer_of(std::string("gone")));
    REQUIRE_FALSE(lost);
    CHECK(lost.error() == std::errc::broken_pipe);
  }());
}

TEST_CASE("read_to_end appends everything up to EOF and returns the count", "[core][transfer][read_to_end]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("f", 200000);
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    std::string out = "prefix:";
    auto n = co_await read_to_end(f->fd(), out);
    REQUIRE(n);
    CHECK(*n == 200000);
    CHECK(out.size() == 7 + 200000);
    CHECK(out.substr(0, 7) == "prefix:");
    CHECK(out.substr(7) == pattern(200000));
    auto again = co_await read_to_end(f->fd(), out);
    REQUIRE(again);
    CHECK(*again == 0);

    auto pipe = make_pipe();
    spawn(trickle(pipe.wr.release(), "streamed in pieces", 5, true));
    std::string from_pipe;
    auto p = co_await read_to_end(pipe.rd.get(), from_pipe);
    REQUIRE(p);
    CHECK(from_pipe == "streamed in pieces");
  }());
}

TEST_CASE("read_to_end of a directory fails with is_a_directory and keeps what the string held",
          "[core][transfer][read_to_end]") {
  temp_dir dir;
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto d = co_await couring::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(d);
    std::string out = "kept";
    auto r = co_await read_to_end(d->get(), out);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::is_a_directory);
    CHECK(out == "kept");
  }());
}
