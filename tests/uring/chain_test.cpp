// Linked chains on every backend: members run in order, each only if the one before succeeded
// (chain) or whatever it did (hard_chain); a failed member keeps its error, those before it keep
// their results, and those after it yield operation_canceled without having run.
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>

using namespace couring;
using namespace couring::testing;
using namespace std::chrono_literals;

namespace {

// One file opened twice: read-write, and write-only (a read on that one fails in the kernel
// with EBADF, after submission: the failure a linked chain must handle).
struct scratch_file {
  temp_dir dir;
  std::string path = dir.file("data");
  unique_fd rw{::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  unique_fd write_only{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
};

bool is_canceled(const std::error_code& e) { return e == std::errc::operation_canceled; }

task<void> chain_into_stopped_token(int fd, result<std::size_t>* first, result<std::size_t>* second) {
  std::string a = "never", b = "written";
  auto [ra, rb] = co_await chain(write_at(fd, const_buffer_of(a), 0), write_at(fd, const_buffer_of(b), 5));
  *first = ra;
  *second = rb;
}

}  // namespace

TEST_CASE("a chain whose middle member fails: the first keeps its result, the rest yield operation_canceled",
          "[uring][chain]") {
  fd_leak_check leaks;
  scratch_file f;
  REQUIRE(f.rw.valid());
  REQUIRE(f.write_only.valid());
  run([&]() -> task<void> {
    std::string first = "first", third = "third";
    std::array<std::byte, 16> buf{};
    auto [w1, r2, w3] = co_await chain(write_at(f.rw.get(), const_buffer_of(first), 0),
                                       read_at(f.write_only.get(), buffer(buf), 0),
                                       write_at(f.rw.get(), const_buffer_of(third), 100));
    REQUIRE(w1);
    CHECK(*w1 == first.size());
    REQUIRE_FALSE(r2);
    CHECK(r2.error() == std::errc::bad_file_descriptor);
    REQUIRE_FALSE(w3);
    CHECK(is_canceled(w3.error()));
  }());
  CHECK(slurp(f.path) == "first");  // the cancelled write never ran
}

TEST_CASE("a failing first member cancels every later member", "[uring][chain]") {
  scratch_file f;
  run([&]() -> task<void> {
    std::array<std::byte, 16> buf{};
    std::string a = "aaaa", b = "bbbb";
    auto [r1, w2, w3] = co_await chain(read_at(f.write_only.get(), buffer(buf), 0), write_at(f.rw.get(), const_buffer_of(a), 0),
                                       write_at(f.rw.get(), const_buffer_of(b), 4));
    REQUIRE_FALSE(r1);
    CHECK(r1.error() == std::errc::bad_file_descriptor);
    REQUIRE_FALSE(w2);
    CHECK(is_canceled(w2.error()));
    REQUIRE_FALSE(w3);
    CHECK(is_canceled(w3.error()));
  }());
  CHECK(slurp(f.path).empty());
}

TEST_CASE("a short read breaks a chain like an error does", "[uring][chain]") {
  scratch_file f;
  REQUIRE(::write(f.rw.get(), "0123456789", 10) == 10);
  run([&]() -> task<void> {
    std::array<char, 8> buf{};
    std::string tail = "TAIL";
    auto [r1, w2] = co_await chain(read_at(f.rw.get(), buffer(buf), 6), write_at(f.rw.get(), const_buffer_of(tail), 10));
    REQUIRE(r1);
    CHECK(*r1 == 4);  // what was there: the read itself succeeded
    CHECK(std::string(buf.data(), 4) == "6789");
    REQUIRE_FALSE(w2);
    CHECK(is_canceled(w2.error()));
  }());
  CHECK(slurp(f.path) == "0123456789");
}

TEST_CASE("hard_chain runs every member, past a failure, in order", "[uring][chain][hard]") {
  scratch_file f;
  run([&]() -> task<void> {
    std::string first = "first", third = "third";
    std::array<std::byte, 16> buf{};
    auto [w1, r2, w3] = co_await hard_chain(write_at(f.rw.get(), const_buffer_of(first), 0),
                                            read_at(f.write_only.get(), buffer(buf), 0),
                                            write_at(f.rw.get(), const_buffer_of(third), 5));
    REQUIRE(w1);
    CHECK(*w1 == 5);
    REQUIRE_FALSE(r2);
    CHECK(r2.error() == std::errc::bad_file_descriptor);
    REQUIRE(w3);
    CHECK(*w3 == 5);
  }());
  CHECK(slurp(f.path) == "firstthird");
}

TEST_CASE("members run in order: each sees what the one before it did", "[uring][chain][order]") {
  scratch_file f;
  run([&]() -> task<void> {
    for (int round = 0; round < 50; ++round) {
      std::string one = "1-" + std::to_string(round), two = "2-" + std::to_string(round),
                  three = "3-" + std::to_string(round);
      std::array<char, 32> seen{};
      // Three writes to the same offset, then a read of it: only the last write may be visible.
      auto [a, b, c, r] = co_await chain(write_at(f.rw.get(), const_buffer_of(one), 0), write_at(f.rw.get(), const_buffer_of(two), 0),
                                         write_at(f.rw.get(), const_buffer_of(three), 0), read_at(f.rw.get(), buffer(seen), 0));
      REQUIRE(a);
      REQUIRE(b);
      REQUIRE(c);
      REQUIRE(r);
      REQUIRE(std::string(seen.data(), three.size()) == three);
    }
  }());
}

TEST_CASE("a member with a deadline runs the chain in order, with the same rules", "[uring][chain][timeout]") {
  fd_leak_check leaks;
  scratch_file f;
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    std::string first = "first", third = "third";
    std::array<std::byte, 16> buf{};
    // Nothing is ever sent: the recv can only end by its deadline.
    auto [w1, r2, w3] = co_await chain(write_at(f.rw.get(), const_buffer_of(first), 0),
                                       recv(conn->far.fd(), buffer(buf)).with_timeout(20ms),
                                       write_at(f.rw.get(), const_buffer_of(third), 5));
    REQUIRE(w1);
    CHECK(*w1 == 5);
    REQUIRE_FALSE(r2);
    CHECK(r2.error() == std::errc::timed_out);
    REQUIRE_FALSE(w3);
    CHECK(is_canceled(w3.error()));
  }());
  CHECK(slurp(f.path) == "first");
}

TEST_CASE("a chain awaited by an already-cancelled task runs no member", "[uring][chain][cancel]") {
  scratch_file f;
  run([&]() -> task<void> {
    stop_source stop;
    stop.request_stop();
    result<std::size_t> first = std::size_t{0}, second = std::size_t{0};
    co_await chain_into_stopped_token(f.rw.get(), &first, &second).with_token(stop.token());
    REQUIRE_FALSE(first);
    CHECK(is_canceled(first.error()));
    REQUIRE_FALSE(second);
    CHECK(is_canceled(second.error()));
  }());
  CHECK(slurp(f.path).empty());
}

TEST_CASE("a chain can open a file into a table slot and read it through that slot", "[uring][chain][file_table]") {
  fd_leak_check leaks;
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 300);
  run([&]() -> task<void> {
    file_table files(1);  // one slot: the open can only land in slot 0
    std::array<std::byte, 300> buf{};
    auto [opened, got] = co_await chain(files.open(path.c_str(), O_RDONLY), files.read_at(fixed_fd{0}, buffer(buf), 0));
    INFO("open: " << (opened ? std::string("ok") : opened.error().message()));
    INFO("read: " << (got ? std::string("ok") : got.error().message()));
    REQUIRE(opened);
    CHECK(opened->slot == 0);
    REQUIRE(got);
    CHECK(*got == buf.size());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < buf.size(); ++i) mismatches += buf[i] != static_cast<std::byte>(pattern_byte(i));
    CHECK(mismatches == 0);
  }());
}
