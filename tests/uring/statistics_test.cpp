// Statistics per request kind: what a program reads from runtime::stats() must match what it
// submitted, on every backend: N reads are N submitted and N completed reads with N latencies,
// emulated reads are counted as such, and nothing is counted twice or for ops that never ran.
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

using namespace couring;
using namespace couring::testing;

namespace {

const std::size_t read_kind = request_index<read_req>();
const std::size_t write_kind = request_index<write_req>();

// What changed between two snapshots, for one kind.
struct kind_delta {
  std::uint64_t submitted, completed, fallbacks, latencies;
};
kind_delta delta(const backend_stats& before, const backend_stats& after, std::size_t kind) {
  return {after.submitted[kind] - before.submitted[kind], after.completed[kind] - before.completed[kind],
          after.fallbacks[kind] - before.fallbacks[kind], latency_total(after, kind) - latency_total(before, kind)};
}

// Emulated ops are counted as fallbacks only by the io_uring backend (the thread pool emulates
// everything and calls none of it a fallback).
std::uint64_t expected_fallbacks(std::size_t kind, std::uint64_t n) {
  if (runs_natively(kind) || runtime::current()->backend() != backend_kind::io_uring) return 0;
  return n;
}

// The number that follows `label` (and its padding) in a line of format_stats(); -1 if none.
long number_after(const std::string& line, const std::string& label) {
  std::size_t at = line.find(label);
  if (at == std::string::npos) return -1;
  at = line.find_first_not_of(' ', at + label.size());
  if (at == std::string::npos) return -1;
  return std::stol(line.substr(at));
}

task<result<std::size_t>> read_block(int fd, std::int64_t offset, std::vector<std::byte>* out) {
  co_return co_await read_at(fd, buffer(*out), offset);
}

}  // namespace

TEST_CASE("N sequential reads are counted as N submitted, N completed and N latencies", "[uring][stats]") {
  temp_dir dir;
  const std::size_t n = 200, block = 4096;
  unique_fd fd(::open(dir.make_pattern_file("data", n * block).c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  run([&]() -> task<void> {
    backend_stats before = shard_stats();
    std::array<std::byte, 4096> buf{};
    std::size_t bytes_ok = 0;
    for (std::size_t i = 0; i < n; ++i) {
      auto r = co_await read_at(fd.get(), buffer(buf), static_cast<std::int64_t>(i * block));
      REQUIRE(r);
      REQUIRE(*r == block);
      bytes_ok += static_cast<std::size_t>(buf[block - 1] == static_cast<std::byte>(pattern_byte(i * block + block - 1)));
    }
    CHECK(bytes_ok == n);
    kind_delta d = delta(before, shard_stats(), read_kind);
    CHECK(d.submitted == n);
    CHECK(d.completed == n);
    CHECK(d.latencies == n);
    CHECK(d.fallbacks == expected_fallbacks(read_kind, n));
    CHECK(delta(before, shard_stats(), write_kind).submitted == 0);
  }());
}

TEST_CASE("reads in flight together are each counted exactly once", "[uring][stats]") {
  temp_dir dir;
  const std::size_t n = 64, block = 4096;
  unique_fd fd(::open(dir.make_pattern_file("data", n * block).c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  run([&]() -> task<void> {
    backend_stats before = shard_stats();
    std::vector<std::vector<std::byte>> blocks(n, std::vector<std::byte>(block));
    std::vector<task<result<std::size_t>>> reads;
    for (std::size_t i = 0; i < n; ++i) reads.push_back(read_block(fd.get(), static_cast<std::int64_t>(i * block), &blocks[i]));
    auto results = co_await when_all(std::move(reads));
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(results[i]);
      CHECK(*results[i] == block);
      CHECK(blocks[i][0] == static_cast<std::byte>(pattern_byte(i * block)));
    }
    kind_delta d = delta(before, shard_stats(), read_kind);
    CHECK(d.submitted == n);
    CHECK(d.completed == n);
    CHECK(d.latencies == n);
  }());
}

TEST_CASE("a chain of three reads counts three reads, whether linked by the kernel or run in order",
          "[uring][stats][chain]") {
  temp_dir dir;
  unique_fd fd(::open(dir.make_pattern_file("data", 3 * 512).c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  run([&]() -> task<void> {
    backend_stats before = shard_stats();
    std::array<std::byte, 512> a{}, b{}, c{};
    auto [ra, rb, rc] = co_await chain(read_at(fd.get(), buffer(a), 0), read_at(fd.get(), buffer(b), 512),
                                       read_at(fd.get(), buffer(c), 1024));
    REQUIRE(ra);
    REQUIRE(rb);
    REQUIRE(rc);
    CHECK(c[0] == static_cast<std::byte>(pattern_byte(1024)));
    kind_delta d = delta(before, shard_stats(), read_kind);
    CHECK(d.submitted == 3);
    CHECK(d.completed == 3);
    CHECK(d.latencies == 3);
  }());
}

TEST_CASE("an op that fails in the kernel is counted as submitted and completed", "[uring][stats]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 64);
  unique_fd write_only(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  REQUIRE(write_only.valid());
  run([&]() -> task<void> {
    backend_stats before = shard_stats();
    std::array<std::byte, 64> buf{};
    auto r = co_await read_at(write_only.get(), buffer(buf), 0);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::bad_file_descriptor);
    kind_delta d = delta(before, shard_stats(), read_kind);
    CHECK(d.submitted == 1);
    CHECK(d.completed == 1);
    CHECK(d.latencies == 1);
  }());
}

TEST_CASE("ops settled before reaching a backend (bad arguments, nothing to move) are not counted", "[uring][stats]") {
  run([&]() -> task<void> {
    backend_stats before = shard_stats();
    std::array<std::byte, 16> buf{};
    auto bad_fd = co_await read_at(-1, buffer(buf), 0);
    REQUIRE_FALSE(bad_fd);
    CHECK(bad_fd.error() == std::errc::bad_file_descriptor);
    auto bad_offset = co_await read_at(0, buffer(buf), -5);
    REQUIRE_FALSE(bad_offset);
    CHECK(bad_offset.error() == std::errc::invalid_argument);
    auto empty = co_await read_at(0, mutable_buffer{}, 0);
    REQUIRE(empty);
    CHECK(*empty == 0);
    kind_delta d = delta(before, shard_stats(), read_kind);
    CHECK(d.submitted == 0);
    CHECK(d.completed == 0);
    CHECK(d.latencies == 0);
  }());
}

TEST_CASE("the printable summary lists each kind that ran with its counts", "[uring][stats]") {
  temp_dir dir;
  unique_fd fd(::open(dir.make_pattern_file("data", 4096).c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  runtime rt;
  rt.run([&]() -> task<void> {
    std::array<std::byte, 64> buf{};
    for (int i = 0; i < 7; ++i) {
      auto r = co_await read_at(fd.get(), buffer(buf), i * 64);
      REQUIRE(r);
    }
  }());
  std::string summary = rt.format_stats();
  INFO(summary);
  CHECK(summary.find(std::string("backend ") + backend_name(rt.backend())) != std::string::npos);
  std::size_t line = summary.find("  read ");
  REQUIRE(line != std::string::npos);
  std::string read_line = summary.substr(line, summary.find('\n', line) - line);
  CHECK(number_after(read_line, "submitted") == 7);
  CHECK(number_after(read_line, "completed") == 7);
  CHECK(read_line.find("latency p50 < ") != std::string::npos);
  CHECK(summary.find("  write ") == std::string::npos);  // nothing was written
}
