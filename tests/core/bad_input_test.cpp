// Bad input gets a clear error in the result, never a crash or a hang, and the same error on
// every backend.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/limits.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::make_pipe;
using couring::testing::request_index;
using couring::testing::temp_dir;

namespace {

std::uint64_t submitted_total(const runtime& rt) {
  std::uint64_t n = 0;
  for (auto k : rt.stats().submitted) n += k;
  return n;
}

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();

}  // namespace

TEST_CASE("a negative descriptor is bad_file_descriptor for every verb, decided before any backend sees it",
          "[core][bad_input][ebadf]") {
  runtime rt;
  std::uint64_t before = 0, after = 0;
  int checked = 0;
  rt.run([&]() -> task<void> {
    before = submitted_total(rt);
    std::array<char, 8> buf{};
    std::array<iovec, 1> iov{{{buf.data(), buf.size()}}};
    sockaddr_in addr{};
    auto expect_ebadf = [&](const std::error_code& e, const char* verb) {
      INFO("verb: " << verb);
      CHECK(e == std::errc::bad_file_descriptor);
      ++checked;
    };
    auto r1 = co_await couring::read(-1, buffer(buf));
    expect_ebadf(r1.error(), "read");
    auto r2 = co_await couring::read_at(-1, buffer(buf), 0);
    expect_ebadf(r2.error(), "read_at");
    auto r3 = co_await couring::write(-1, const_buffer_of(buf));
    expect_ebadf(r3.error(), "write");
    auto r4 = co_await couring::write_at(-1, const_buffer_of(buf), 0);
    expect_ebadf(r4.error(), "write_at");
    auto r5 = co_await couring::readv(-1, iov);
    expect_ebadf(r5.error(), "readv");
    auto r6 = co_await couring::writev(-1, iov);
    expect_ebadf(r6.error(), "writev");
    auto r7 = co_await couring::close(-1);
    expect_ebadf(r7.error(), "close");
    auto r8 = co_await couring::fsync(-1);
    expect_ebadf(r8.error(), "fsync");
    auto r9 = co_await couring::fdatasync(-1);
    expect_ebadf(r9.error(), "fdatasync");
    auto r10 = co_await couring::fallocate(-1, 0, 0, 10);
    expect_ebadf(r10.error(), "fallocate");
    auto r11 = co_await couring::ftruncate(-1, 0);
    expect_ebadf(r11.error(), "ftruncate");
    auto r12 = co_await couring::accept(-1);
    expect_ebadf(r12.error(), "accept");
    auto r13 = co_await couring::connect(-1, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    expect_ebadf(r13.error(), "connect");
    auto r14 = co_await couring::recv(-1, buffer(buf));
    expect_ebadf(r14.error(), "recv");
    auto r15 = co_await couring::send(-1, const_buffer_of(buf));
    expect_ebadf(r15.error(), "send");
    auto r16 = co_await couring::shutdown(-1, SHUT_RDWR);
    expect_ebadf(r16.error(), "shutdown");
    auto r17 = co_await couring::poll(-1, POLLIN);
    expect_ebadf(r17.error(), "poll");
    after = submitted_total(rt);
  }());
  CHECK(checked == 17);
  CHECK(after == before);
}

TEST_CASE("a descriptor number that is not open is bad_file_descriptor from the kernel", "[core][bad_input][ebadf]") {
  fd_leak_check leaks;
  int checked = 0;
  run([&]() -> task<void> {
    int fd = couring::testing::closed_fd_number();
    std::array<char, 8> buf{};
    auto expect_ebadf = [&](const std::error_code& e, const char* verb) {
      INFO("verb: " << verb);
      CHECK(e == std::errc::bad_file_descriptor);
      ++checked;
    };
    auto r1 = co_await couring::read(fd, buffer(buf));
    expect_ebadf(r1.error(), "read");
    auto r2 = co_await couring::read_at(fd, buffer(buf), 0);
    expect_ebadf(r2.error(), "read_at");
    auto r3 = co_await couring::write(fd, const_buffer_of(buf));
    expect_ebadf(r3.error(), "write");
    auto r4 = co_await couring::write_at(fd, const_buffer_of(buf), 0);
    expect_ebadf(r4.error(), "write_at");
    auto r5 = co_await couring::close(fd);
    expect_ebadf(r5.error(), "close");
    auto r6 = co_await couring::fstatx(fd);
    expect_ebadf(r6.error(), "fstatx");
    auto r7 = co_await couring::fallocate(fd, 0, 0, 10);
    expect_ebadf(r7.error(), "fallocate");
    auto r8 = co_await couring::ftruncate(fd, 0);
    expect_ebadf(r8.error(), "ftruncate");
    auto r9 = co_await couring::accept(fd);
    expect_ebadf(r9.error(), "accept");
    auto r10 = co_await couring::recv(fd, buffer(buf));
    expect_ebadf(r10.error(), "recv");
    auto r11 = co_await couring::send(fd, const_buffer_of(buf));
    expect_ebadf(r11.error(), "send");
    auto r12 = co_await couring::shutdown(fd, SHUT_RDWR);
    expect_ebadf(r12.error(), "shutdown");
    auto r13 = co_await couring::openat(fd, "relative", O_RDONLY);
    expect_ebadf(r13.error(), "openat");
    auto r14 = co_await couring::mkdirat(fd, "relative");
    expect_ebadf(r14.error(), "mkdirat");
  }());
  CHECK(checked == 14);
}

TEST_CASE("handles that own no descriptor answer bad_file_descriptor", "[core][bad_input][ebadf]") {
  run([]() -> task<void> {
    file f;
    std::array<char, 8> buf{};
    auto r = co_await f.read_at(buffer(buf), 0);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::bad_file_descriptor);
    auto st = co_await f.stat();
    REQUIRE_FALSE(st);
    CHECK(st.error() == std::errc::bad_file_descriptor);
    tcp_stream s;
    auto sent = co_await s.send(const_buffer_of(buf));
    REQUIRE_FALSE(sent);
    CHECK(sent.error() == std::errc::bad_file_descriptor);
    tcp_listener l;
    auto a = co_await l.accept();
    REQUIRE_FALSE(a);
    CHECK(a.error() == std::errc::bad_file_descriptor);
  }());
}

TEST_CASE("missing paths fail with no_such_file_or_directory", "[core][bad_input][enoent]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string missing = dir.file("missing/deeper");
  int checked = 0;
  run([&]() -> task<void> {
    auto expect_enoent = [&](const std::error_code& e, const char* verb) {
      INFO("verb: " << verb);
      CHECK(e == std::errc::no_such_file_or_directory);
      ++checked;
    };
    auto r1 = co_await couring::open(missing.c_str(), O_RDONLY);
    expect_enoent(r1.error(), "open");
    auto r2 = co_await couring::open(missing.c_str(), O_WRONLY | O_CREAT, 0600);  // the parent is missing
    expect_enoent(r2.error(), "open O_CREAT");
    auto r3 = co_await couring::statx(AT_FDCWD, missing.c_str());
    expect_enoent(r3.error(), "statx");
    auto r4 = co_await couring::unlink(missing.c_str());
    expect_enoent(r4.error(), "unlink");
    auto r5 = co_await couring::rmdir(missing.c_str());
    expect_enoent(r5.error(), "rmdir");
    auto r6 = co_await couring::rename(missing.c_str(), dir.file("x").c_str());
    expect_enoent(r6.error(), "rename");
    auto r7 = co_await couring::mkdir(missing.c_str());
    expect_enoent(r7.error(), "mkdir");
    auto r8 = co_await file::open("", O_RDONLY);
    expect_enoent(r8.error(), "open of an empty path");
  }());
  CHECK(checked == 8);
}

TEST_CASE("paths longer than the kernel accepts fail with filename_too_long", "[core][bad_input][enametoolong]") {
  fd_leak_check leaks;
  std::string too_long = "/tmp/" + std::string(PATH_MAX, 'x');
  std::string long_component = "/tmp/" + std::string(NAME_MAX + 1, 'y');
  int checked = 0;
  run([&]() -> task<void> {
    auto expect = [&](const std::error_code& e, const char* verb) {
      INFO("verb: " << verb);
      CHECK(e == std::errc::filename_too_long);
      ++checked;
    };
    for (const std::string* p : {&too_long, &long_component}) {
      auto r1 = co_await couring::open(p->c_str(), O_RDONLY);
      expect(r1.error(), "open");
      auto r2 = co_await couring::statx(AT_FDCWD, p->c_str());
      expect(r2.error(), "statx");
      auto r3 = co_await couring::mkdir(p->c_str());
      expect(r3.error(), "mkdir");
      auto r4 = co_await couring::unlink(p->c_str());
      expect(r4.error(), "unlink");
      auto r5 = co_await couring::rename(p->c_str(), "/tmp/whatever-couring");
      expect(r5.error(), "rename");
    }
    auto u = co_await unix_stream::connect(too_long);
    expect(u.error(), "unix_stream::connect");
  }());
  CHECK(checked == 11);
}

TEST_CASE("null paths and addresses fail with bad_address", "[core][bad_input][efault]") {
  int checked = 0;
  run([&]() -> task<void> {
    auto expect = [&](const std::error_code& e, const char* verb) {
      INFO("verb: " << verb);
      CHECK(e == std::errc::bad_address);
      ++checked;
    };
    auto r1 = co_await couring::open(nullptr, O_RDONLY);
    expect(r1.error(), "open");
    auto r2 = co_await file::open(nullptr, O_RDONLY);
    expect(r2.error(), "file::open");
    auto r3 = co_await couring::unlink(nullptr);
    expect(r3.error(), "unlink");
    auto r4 = co_await couring::rename(nullptr, "x");
    expect(r4.error(), "rename");
    auto r5 = co_await couring::mkdir(nullptr);
    expect(r5.error(), "mkdir");
    auto r6 = co_await couring::statx(AT_FDCWD, nullptr);
    expect(r6.error(), "statx");
    auto r7 = co_await couring::connect(0, nullptr, 0);
    expect(r7.error(), "connect");
  }());
  CHECK(checked == 7);
}

TEST_CASE("zero-length reads and writes complete with 0 at once, without a syscall, even where they would block",
          "[core][bad_input][zero_length]") {
  fd_leak_check leaks;
  runtime rt;
  std::uint64_t before = 0, after = 0;
  int checked = 0;
  rt.run([&]() -> task<void> {
    auto pipe = make_pipe();  // empty: a real read would block forever
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    before = submitted_total(rt);
    auto expect_zero = [&](const result<std::size_t>& r, const char* verb) {
      INFO("verb: " << verb);
      REQUIRE(r);
      CHECK(*r == 0);
      ++checked;
    };
    auto r1 = co_await couring::read(pipe.rd.get(), mutable_buffer{});
    expect_zero(r1, "read");
    auto r2 = co_await couring::read_at(pipe.rd.get(), mutable_buffer{}, 0);
    expect_zero(r2, "read_at");
    auto r3 = co_await couring::write(pipe.wr.get(), const_buffer{});
    expect_zero(r3, "write");
    auto r4 = co_await couring::write_at(pipe.wr.get(), const_buffer{}, 0);
    expect_zero(r4, "write_at");
    auto r5 = co_await couring::readv(pipe.rd.get(), std::span<const iovec>{});
    expect_zero(r5, "readv");
    auto r6 = co_await couring::writev(pipe.wr.get(), std::span<const iovec>{});
    expect_zero(r6, "writev");
    auto r7 = co_await couring::recv(pair->first.fd(), mutable_buffer{});
    expect_zero(r7, "recv");
    auto r8 = co_await couring::send(pair->first.fd(), const_buffer{});
    expect_zero(r8, "send");
    std::string empty;
    auto r9 = co_await couring::read(pipe.rd.get(), buffer(empty));
    expect_zero(r9, "read into an empty string");
    after = submitted_total(rt);

    // The helpers have nothing to do either.
    auto h1 = co_await read_exactly(pipe.rd.get(), mutable_buffer{});
    CHECK(h1);
    auto h2 = co_await write_all(pipe.wr.get(), const_buffer{});
    CHECK(h2);
    auto h3 = co_await recv_exactly(pair->first.fd(), mutable_buffer{});
    CHECK(h3);
    auto h4 = co_await send_all(pair->first.fd(), const_buffer{});
    CHECK(h4);
  }());
  CHECK(checked == 9);
  CHECK(after == before);
}

TEST_CASE("connecting to a closed port fails with connection_refused", "[core][bad_input][econnrefused]") {
  fd_leak_check leaks;
  std::uint16_t port;
  {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    port = l->local_endpoint()->port();
  }
  auto r = run([&]() -> task<result<tcp_stream>> { co_return co_await tcp_stream::connect(endpoint::loopback_v4(port)); }());
  REQUIRE_FALSE(r);
  CHECK(r.error() == std::errc::connection_refused);
}

TEST_CASE("reading a directory fails with is_a_directory; opening one for writing too", "[core][bad_input][eisdir]") {
  temp_dir dir;
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto d = co_await couring::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(d);
    std::array<char, 64> buf{};
    std::array<iovec, 1> iov{{{buf.data(), buf.size()}}};
    auto r1 = co_await couring::read(d->get(), buffer(buf));
    REQUIRE_FALSE(r1);
    CHECK(r1.error() == std::errc::is_a_directory);
    auto r2 = co_await couring::read_at(d->get(), buffer(buf), 0);
    REQUIRE_FALSE(r2);
    CHECK(r2.error() == std::errc::is_a_directory);
    auto r3 = co_await couring::readv(d->get(), iov, 0);
    REQUIRE_FALSE(r3);
    CHECK(r3.error() == std::errc::is_a_directory);
    auto w = co_await couring::open(dir.path().c_str(), O_WRONLY);
    REQUIRE_FALSE(w);
    CHECK(w.error() == std::errc::is_a_directory);
  }());
}

TEST_CASE("negative offsets and lengths fail with invalid_argument", "[core][bad_input][einval]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("f", 100);
  int checked = 0;
  run([&]() -> task<void> {
    auto f = co_await couring::open(path.c_str(), O_RDWR);
    REQUIRE(f);
    std::array<char, 8> buf{};
    std::array<iovec, 1> iov{{{buf.data(), buf.size()}}};
    auto expect = [&](const std::error_code& e, const char* verb) {
      INFO("verb: " << verb);
      CHECK(e == std::errc::invalid_argument);
      ++checked;
    };
    auto r1 = co_await couring::read_at(f->get(), buffer(buf), -1);
    expect(r1.error(), "read_at -1");
    auto r2 = co_await couring::read_at(f->get(), buffer(buf), std::numeric_limits<std::int64_t>::min());
    expect(r2.error(), "read_at min");
    auto r3 = co_await couring::write_at(f->get(), const_buffer_of(buf), -4096);
    expect(r3.error(), "write_at");
    auto r4 = co_await couring::readv(f->get(), iov, -2);  // -1 is current_position; below it is an error
    expect(r4.error(), "readv");
    auto r5 = co_await couring::writev(f->get(), iov, -100);
    expect(r5.error(), "writev");
    auto r6 = co_await couring::fallocate(f->get(), 0, -1, 10);
    expect(r6.error(), "fallocate offset");
    auto r7 = co_await couring::fallocate(f->get(), 0, 0, 0);
    expect(r7.error(), "fallocate length 0");
    auto r8 = co_await couring::fallocate(f->get(), 0, 0, -10);
    expect(r8.error(), "fallocate length -10");
    auto r9 = co_await couring::ftruncate(f->get(), -1);
    expect(r9.error(), "ftruncate");
  }());
  CHECK(checked == 9);
  CHECK(couring::testing::slurp(path).size() == 100);
}

TEST_CASE("offsets whose end overflows fail with invalid_argument; past the largest file size, file_too_large",
          "[core][bad_input][overflow]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("f", 100);
  run([&]() -> task<void> {
    auto f = co_await couring::open(path.c_str(), O_RDWR);
    REQUIRE(f);
    std::array<char, 8> buf{};
    auto r1 = co_await couring::read_at(f->get(), buffer(buf), int64_max - 3);
    REQUIRE_FALSE(r1);
    CHECK(r1.error() == std::errc::invalid_argument);
    auto r2 = co_await couring::write_at(f->get(), const_buffer_of(buf), int64_max);
    REQUIRE_FALSE(r2);
    CHECK(r2.error() == std::errc::invalid_argument);
    std::array<iovec, 1> iov{{{buf.data(), buf.size()}}};
    auto r3 = co_await couring::readv(f->get(), iov, int64_max - 1);
    REQUIRE_FALSE(r3);
    CHECK(r3.error() == std::errc::invalid_argument);

    // Far but representable: past the end a read finds nothing, a write cannot grow that far.
    auto r4 = co_await couring::read_at(f->get(), buffer(buf), int64_max - 100);
    REQUIRE(r4);
    CHECK(*r4 == 0);
    auto r5 = co_await couring::write_at(f->get(), const_buffer_of(buf), int64_max - 100);
    REQUIRE_FALSE(r5);
    CHECK(r5.error() == std::errc::file_too_large);
    auto r6 = co_await couring::fallocate(f->get(), 0, int64_max - 10, 100);
    REQUIRE_FALSE(r6);
    CHECK(r6.error() == std::errc::file_too_large);
    auto r7 = co_await couring::ftruncate(f->get(), int64_max);
    REQUIRE_FALSE(r7);
    CHECK(r7.error() == std::errc::file_too_large);
  }());
  CHECK(couring::testing::slurp(path).size() == 100);
}

TEST_CASE("operations on the wrong kind of descriptor fail with the kernel's error, not a hang",
          "[core][bad_input]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("f", 10);
  run([&]() -> task<void> {
    auto ro = co_await couring::open(path.c_str(), O_RDONLY);
    REQUIRE(ro);
    std::string text = "nope";
    auto w = co_await couring::write_at(ro->get(), const_buffer_of(text), 0);
    REQUIRE_FALSE(w);
    CHECK(w.error() == std::errc::bad_file_descriptor);  // not open for writing

    auto pipe = make_pipe();
    std::array<char, 4> buf{};
    auto wrong_end = co_await couring::read(pipe.wr.get(), buffer(buf));
    REQUIRE_FALSE(wrong_end);
    CHECK(wrong_end.error() == std::errc::bad_file_descriptor);

    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    auto recv_on_listener = co_await couring::recv(l->fd(), buffer(buf));
    REQUIRE_FALSE(recv_on_listener);
    CHECK(recv_on_listener.error() == std::errc::not_connected);
  }());
}
