// send_file over a socket: a 1 GiB sparse file (holes and a few marker blocks) arrives with its
// exact length and every marker in place, whether spliced inside the kernel (io_uring) or read
// and sent through a buffer (elsewhere); offsets, short files and bad arguments behave alike.
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

using namespace couring;
using namespace couring::testing;

namespace {

constexpr std::size_t marker_size = 64;

// A sparse file of `size` bytes: zeros everywhere but at the markers (those that fit, without
// overlapping), 64 bytes of stream `seed = marker index` each.
struct sparse_file {
  sparse_file(const temp_dir& dir, std::size_t size) : path(dir.file("sparse")), size(size) {
    fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(fd.valid());
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
    // At the start, inside the first pages, across a 256 KiB send_file chunk boundary, across
    // the middle, and at the very end.
    for (std::size_t m : {std::size_t{0}, std::size_t{3 * 4096 + 17}, 256 * 1024 - marker_size / 2, size / 2 - 5, size - marker_size}) {
      if (m + marker_size <= size && (markers.empty() || m >= markers.back() + marker_size)) markers.push_back(m);
    }
    for (std::size_t m = 0; m < markers.size(); ++m) {
      std::byte block[marker_size];
      fill_stream(block, marker_size, m, 0);
      REQUIRE(::pwrite(fd.get(), block, marker_size, static_cast<off_t>(markers[m])) == static_cast<ssize_t>(marker_size));
    }
  }
  // The byte the file holds at `offset`.
  std::byte at(std::size_t offset) const {
    for (std::size_t m = 0; m < markers.size(); ++m) {
      if (offset >= markers[m] && offset < markers[m] + marker_size)
        return static_cast<std::byte>(stream_byte(m, offset - markers[m]));
    }
    return std::byte{0};
  }
  // Counts the bytes of `data` (the file's bytes from `offset` on) that differ from the file.
  std::size_t mismatches(const std::byte* data, std::size_t n, std::size_t offset) const {
    static const std::vector<std::byte> zeros(1 << 20);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n;) {
      // Runs of zeros are compared wholesale; a marker (or a mismatch) byte by byte.
      std::size_t run = std::min(n - i, zeros.size());
      if (std::memcmp(data + i, zeros.data(), run) == 0 && no_marker_in(offset + i, run)) {
        i += run;
        continue;
      }
      for (std::size_t j = 0; j < run; ++j) wrong += data[i + j] != at(offset + i + j);
      i += run;
    }
    return wrong;
  }
  bool no_marker_in(std::size_t offset, std::size_t n) const {
    for (std::size_t m : markers) {
      if (m < offset + n && m + marker_size > offset) return false;
    }
    return true;
  }

  std::string path;
  std::size_t size;
  unique_fd fd;
  std::vector<std::size_t> markers;
};

struct reception {
  std::size_t bytes = 0;
  std::size_t wrong = 0;
};

// Reads until end of file, comparing with the file's bytes from `offset` on.
task<reception> receive_file(int fd, const sparse_file* file, std::size_t offset) {
  std::vector<std::byte> buf(1 << 20);
  reception got;
  for (;;) {
    auto n = co_await recv(fd, buffer(buf));
    REQUIRE(n);
    if (*n == 0) break;
    got.wrong += file->mismatches(buf.data(), *n, offset + got.bytes);
    got.bytes += *n;
  }
  co_return got;
}

task<result<std::size_t>> send_then_close(int fd, int file_fd, std::int64_t offset, std::size_t len) {
  auto sent = co_await send_file(fd, file_fd, offset, len);
  auto down = co_await couring::shutdown(fd, SHUT_WR);
  REQUIRE(down);
  co_return sent;
}

}  // namespace

TEST_CASE("send_file of a 1 GiB sparse file: exact length, markers in place", "[uring][send_file][splice]") {
  fd_leak_check leaks;
  temp_dir dir;
  const sparse_file file(dir, scaled(std::size_t{1} << 30));  // 128 MiB under sanitizers
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    auto [sent, got] = co_await when_all(send_then_close(conn->near.fd(), file.fd.get(), 0, file.size),
                                         receive_file(conn->far.fd(), &file, 0));
    REQUIRE(sent);
    CHECK(*sent == file.size);
    CHECK(got.bytes == file.size);
    CHECK(got.wrong == 0);
  }());
}

TEST_CASE("send_file from an offset sends exactly the range asked for", "[uring][send_file]") {
  fd_leak_check leaks;
  temp_dir dir;
  const sparse_file file(dir, 8u << 20);
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    const std::size_t offset = file.size / 2 - 1000, len = 5000;  // around the middle marker
    auto [sent, got] = co_await when_all(send_then_close(conn->near.fd(), file.fd.get(), static_cast<std::int64_t>(offset), len),
                                         receive_file(conn->far.fd(), &file, offset));
    REQUIRE(sent);
    CHECK(*sent == len);
    CHECK(got.bytes == len);
    CHECK(got.wrong == 0);
  }());
}

TEST_CASE("send_file of more than the file holds sends what there is, then reports end of file",
          "[uring][send_file]") {
  fd_leak_check leaks;
  temp_dir dir;
  const sparse_file file(dir, 100 * 1024);
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    auto [sent, got] = co_await when_all(send_then_close(conn->near.fd(), file.fd.get(), 0, file.size + 4096),
                                         receive_file(conn->far.fd(), &file, 0));
    INFO("sent: " << (sent ? std::to_string(*sent) : sent.error().message()));
    REQUIRE_FALSE(sent);
    CHECK(sent.error() == error::end_of_file);
    CHECK(got.bytes == file.size);
    CHECK(got.wrong == 0);
  }());
}

TEST_CASE("send_file refuses bad descriptors and offsets, and sends nothing for a zero length", "[uring][send_file]") {
  fd_leak_check leaks;
  temp_dir dir;
  const sparse_file file(dir, 4096);
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    auto bad_out = co_await send_file(-1, file.fd.get(), 0, 10);
    REQUIRE_FALSE(bad_out);
    CHECK(bad_out.error() == std::errc::bad_file_descriptor);
    auto bad_in = co_await send_file(conn->near.fd(), -1, 0, 10);
    REQUIRE_FALSE(bad_in);
    CHECK(bad_in.error() == std::errc::bad_file_descriptor);
    auto bad_offset = co_await send_file(conn->near.fd(), file.fd.get(), -1, 10);
    REQUIRE_FALSE(bad_offset);
    CHECK(bad_offset.error() == std::errc::invalid_argument);
    auto nothing = co_await send_file(conn->near.fd(), file.fd.get(), 0, 0);
    REQUIRE(nothing);
    CHECK(*nothing == 0);
  }());
}
