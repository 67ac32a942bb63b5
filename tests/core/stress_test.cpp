// Ten thousand coroutines in flight at once, each doing file and socket I/O, every byte checked.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>

#include <array>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::pattern_byte;
using couring::testing::slurp;
using couring::testing::temp_dir;

namespace {

constexpr std::size_t coroutines = 10000;
constexpr std::size_t block = 256;
constexpr std::size_t files = 16;  // shared: 10,000 files plus 10,000 socket ends would pass RLIMIT_NOFILE

std::array<std::uint8_t, block> block_of(std::size_t id) {
  std::array<std::uint8_t, block> b{};
  for (std::size_t k = 0; k < block; ++k) b[k] = pattern_byte(id * block + k);
  return b;
}

std::int64_t offset_of(std::size_t id) { return static_cast<std::int64_t>((id / files) * block); }

struct tally {
  std::size_t active = 0;
  std::size_t peak = 0;  // coroutines started and not yet finished, at most
  std::size_t finished = 0;
  std::size_t file_ok = 0;
  std::size_t socket_ok = 0;
};

// Coroutine `id` writes its block to its file slot, sends it to its partner (id ^ 1) over their
// socket pair, receives the partner's block, and reads its own block back from the file.
task<void> worker(std::size_t id, int file_fd, int socket_fd, tally* t) {
  t->peak = std::max(t->peak, ++t->active);
  const auto mine = block_of(id);
  const auto theirs = block_of(id ^ 1);
  auto w = co_await write_all(file_fd, const_buffer_of(mine), offset_of(id));
  REQUIRE(w);
  auto s = co_await send_all(socket_fd, const_buffer_of(mine));
  REQUIRE(s);
  std::array<std::uint8_t, block> got{};
  auto r = co_await recv_exactly(socket_fd, buffer(got));
  REQUIRE(r);
  if (got == theirs) ++t->socket_ok;
  std::array<std::uint8_t, block> back{};
  auto rb = co_await read_exactly(file_fd, buffer(back), offset_of(id));
  REQUIRE(rb);
  if (back == mine) ++t->file_ok;
  --t->active;
  ++t->finished;
}

}  // namespace

TEST_CASE("10,000 concurrent coroutines each doing file and socket I/O all finish with the right bytes",
          "[core][stress]") {
  rlimit nofile{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &nofile) == 0);
  if (nofile.rlim_cur < coroutines + 1000) {
    // Raise the soft limit where the hard one allows; the fds needed are one per coroutine.
    nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, coroutines + 1000);
    ::setrlimit(RLIMIT_NOFILE, &nofile);
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &nofile) == 0);
  }
  REQUIRE(nofile.rlim_cur >= coroutines + 1000);

  temp_dir dir;
  tally t;
  {
    fd_leak_check leaks;
    run([&]() -> task<void> {
      std::vector<file> shared;
      for (std::size_t f = 0; f < files; ++f) {
        auto opened = co_await file::open(dir.file("f" + std::to_string(f)).c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
        REQUIRE(opened);
        shared.push_back(std::move(*opened));
      }
      std::vector<unix_stream> ends;
      ends.reserve(coroutines);
      for (std::size_t p = 0; p < coroutines / 2; ++p) {
        auto pair = unix_stream::pair();
        REQUIRE(pair);
        ends.push_back(std::move(pair->first));
        ends.push_back(std::move(pair->second));
      }
      for (std::size_t id = 0; id < coroutines; ++id) spawn(worker(id, shared[id % files].fd(), ends[id].fd(), &t));
      while (t.finished < coroutines) co_await yield();
    }());
  }
  CHECK(t.finished == coroutines);
  CHECK(t.peak == coroutines);  // all of them were in flight at once
  CHECK(t.socket_ok == coroutines);
  CHECK(t.file_ok == coroutines);
  // And the files hold every block, where it belongs, written once.
  std::size_t intact = 0;
  for (std::size_t f = 0; f < files; ++f) {
    std::string content = slurp(dir.file("f" + std::to_string(f)));
    REQUIRE(content.size() == (coroutines / files) * block);
    for (std::size_t id = f; id < coroutines; id += files) {
      auto expected = block_of(id);
      if (content.compare(static_cast<std::size_t>(offset_of(id)), block,
                          reinterpret_cast<const char*>(expected.data()), block) == 0)
        ++intact;
    }
  }
  CHECK(intact == coroutines);
}
