// File operations: what a caller of read/write/open/stat can rely on, on every backend.
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
using couring::testing::slurp;
using couring::testing::temp_dir;

TEST_CASE("a file written at offsets reads back byte for byte", "[core][file]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("data");
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(f);
    std::string first = "hello, ", second = "couring";
    auto w1 = co_await f->write_at(const_buffer_of(first), 0);
    auto w2 = co_await f->write_at(const_buffer_of(second), 7);
    REQUIRE(w1);
    REQUIRE(w2);
    CHECK(*w1 == 7);
    CHECK(*w2 == 7);
    std::array<char, 32> back{};
    auto r = co_await f->read_at(buffer(back), 0);
    REQUIRE(r);
    CHECK(std::string(back.data(), *r) == "hello, couring");
    auto closed = co_await f->close();  // never co_await inside a Catch macro: GCC 12 miscompiles it
    REQUIRE(closed);
    CHECK_FALSE(f->is_open());
  }());
  CHECK(slurp(path) == "hello, couring");
}

TEST_CASE("a read that starts before EOF and ends past it is short; at EOF it returns 0", "[core][file][read]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("ten", 10);
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    std::array<std::uint8_t, 64> buf{};
    auto short_read = co_await f->read_at(buffer(buf), 4);
    REQUIRE(short_read);
    CHECK(*short_read == 6);
    for (std::size_t i = 0; i < 6; ++i) CHECK(buf[i] == pattern_byte(4 + i));
    auto at_eof = co_await f->read_at(buffer(buf), 10);
    REQUIRE(at_eof);
    CHECK(*at_eof == 0);
  }());
}

TEST_CASE("opening a missing path fails with no_such_file_or_directory", "[core][file][openat]") {
  fd_leak_check leaks;
  auto r = run([]() -> task<result<file>> { co_return co_await file::open("/nonexistent/couring/x", O_RDONLY); }());
  REQUIRE_FALSE(r);
  CHECK(r.error() == std::errc::no_such_file_or_directory);
}
