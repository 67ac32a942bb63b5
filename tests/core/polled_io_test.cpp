// `.polled()` and runtime_config::uring_iopoll: O_DIRECT reads and writes completed by polling
// the device on io_uring's IOPOLL ring, and the same results wherever that cannot happen (the
// thread pool, a file that is not O_DIRECT, a filesystem without polling).
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::pattern_byte;
using couring::testing::request_index;
using couring::testing::temp_dir;

namespace {

constexpr std::size_t block = 4096;
constexpr std::size_t blocks = 16;

struct aligned_free {
  void operator()(void* p) const noexcept { std::free(p); }
};
using aligned_buffer = std::unique_ptr<unsigned char, aligned_free>;

aligned_buffer aligned(std::size_t size) {
  return aligned_buffer(static_cast<unsigned char*>(std::aligned_alloc(block, size)));
}

runtime_config iopoll_config() {
  runtime_config c;
  c.shards = 1;
  c.uring_iopoll = true;
  return c;
}

// Whether the directory's filesystem takes O_DIRECT at all (tmpfs before 6.6 does not).
bool direct_io_works(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

}  // namespace

TEST_CASE("polled O_DIRECT writes and reads move exactly the bytes asked for, on every backend", "[core][iopoll]") {
  temp_dir dir;
  const std::string path = dir.make_pattern_file("data", blocks * block);
  if (!direct_io_works(path)) {
    WARN("the scratch directory's filesystem refuses O_DIRECT; nothing to poll");
    return;
  }
  fd_leak_check leaks;
  runtime rt(iopoll_config());
  std::size_t reads = 0;
  rt.run([&]() -> task<void> {
    auto f = co_await couring::open(path.c_str(), O_RDWR | O_DIRECT);
    REQUIRE(f);
    auto buf = aligned(block);
    for (std::size_t i = 0; i < blocks; ++i) {
      auto n = co_await read_at(f->get(), buffer(buf.get(), block), static_cast<std::int64_t>(i * block)).polled();
      ++reads;
      REQUIRE(n);
      REQUIRE(*n == block);
      for (std::size_t j = 0; j < block; j += 511) REQUIRE(buf.get()[j] == pattern_byte(i * block + j));
    }
    // Overwrite block 3 with its own bytes inverted, then read it back, both polled.
    for (std::size_t j = 0; j < block; ++j) buf.get()[j] = static_cast<unsigned char>(~pattern_byte(3 * block + j));
    auto w = co_await write_at(f->get(), buffer(buf.get(), block), 3 * block).polled();
    REQUIRE(w);
    CHECK(*w == block);
    std::fill_n(buf.get(), block, 0);
    auto back = co_await read_at(f->get(), buffer(buf.get(), block), 3 * block).polled();
    REQUIRE(back);
    REQUIRE(*back == block);
    bool inverted = true;
    for (std::size_t j = 0; j < block; ++j) inverted = inverted && buf.get()[j] == static_cast<unsigned char>(~pattern_byte(3 * block + j));
    CHECK(inverted);
  }());
  const backend_stats stats = rt.stats();
  CHECK(stats.submitted[request_index<read_req>()] == reads + 1);
  CHECK(stats.submitted[request_index<write_req>()] == 1);
  // On io_uring every polled op was either completed by polling the device or, where the device
  // has no poll queues (a VM's virtio disk, usually), refused with EOPNOTSUPP and completed on the
  // ordinary ring: the bytes above are right either way. Other backends never poll.
  if (rt.backend() == backend_kind::io_uring && rt.backend_reason().find("emulated request kinds: none") != std::string::npos) {
    CHECK(stats.polled + stats.polled_refused == reads + 2);
  } else {
    CHECK(stats.polled == 0);
  }
}

TEST_CASE("a polled read of a buffered (non-O_DIRECT) file is refused by IOPOLL and completes on the ordinary path",
          "[core][iopoll]") {
  temp_dir dir;
  const std::string path = dir.make_pattern_file("buffered", 3 * block);
  fd_leak_check leaks;
  runtime rt(iopoll_config());
  rt.run([&]() -> task<void> {
    auto f = co_await couring::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    std::array<unsigned char, 100> buf{};
    auto n = co_await read_at(f->get(), buffer(buf), 5000).polled();
    REQUIRE(n);
    CHECK(*n == buf.size());
    for (std::size_t j = 0; j < buf.size(); ++j) REQUIRE(buf[j] == pattern_byte(5000 + j));
    auto eof = co_await read_at(f->get(), buffer(buf), 3 * block).polled();
    REQUIRE(eof);
    CHECK(*eof == 0);
  }());
  CHECK(rt.stats().polled == 0);
}

TEST_CASE("a cancelled polled read resumes exactly once, with its result or operation_canceled", "[core][iopoll]") {
  temp_dir dir;
  const std::string path = dir.make_pattern_file("data", blocks * block);
  if (!direct_io_works(path)) return;
  fd_leak_check leaks;
  runtime rt(iopoll_config());
  int resumed = 0;
  rt.run([&]() -> task<void> {
    auto f = co_await couring::open(path.c_str(), O_RDONLY | O_DIRECT);
    REQUIRE(f);
    auto buf = aligned(block);
    task_group group;
    auto reader = [&](stop_token stop) -> task<void> {
      auto n = co_await read_at(f->get(), buffer(buf.get(), block), 0).polled().with_token(stop);
      ++resumed;
      if (n) {
        CHECK(*n == block);
        CHECK(buf.get()[1] == pattern_byte(1));
      } else {
        CHECK(n.error() == std::errc::operation_canceled);
      }
    };
    group.spawn(reader(group.token()));
    co_await yield();  // the reader submits its read
    group.cancel();
    co_await group.join();
  }());
  CHECK(resumed == 1);
}
