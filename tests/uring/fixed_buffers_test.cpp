// Registered buffers: fixed_buffers reads and writes are byte-exact on every backend, and where
// the kernel refuses the registration (RLIMIT_MEMLOCK, in a forked child) they fall back to plain
// reads and writes, still byte-exact, and the refusal is reported once. A buffer_pool's ring and
// the ring itself are checked under a tiny limit too.
//
// How the kernel charges locked memory, as found on this machine (6.18): only rings created by a
// process without CAP_IPC_LOCK are charged (so the children, run as root here, drop it first),
// against RLIMIT_MEMLOCK and the user's total across all its processes. Pinned registered
// buffers and provided-buffer rings are charged; and so is the ring's own memory again: under
// RLIMIT_MEMLOCK 0 io_uring_setup fails with ENOMEM on 6.18 (kernels from 5.12 on charged the
// memory cgroup instead, until ring memory moved to "regions"). Because the total is per user, a
// child cannot know how much room other processes left it: the children create their runtime
// under the normal limit, then lower it far below what they register, so that only refusals are
// asserted, never a tight success (which is also why the retry with a smaller ring is not tested).
#include "fallback_support.hpp"
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <string>
#include <vector>

using namespace couring;
using namespace couring::testing;

namespace {

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Whether registering `bytes` of buffers can succeed here: a process holding CAP_IPC_LOCK is
// never charged; any other (root in a container, usually) is, against RLIMIT_MEMLOCK, shared with
// whatever else the user locked: only a generous margin counts as fitting.
bool registration_fits(std::size_t bytes) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_MEMLOCK, &lim) < 0) return false;
  return holds_ipc_lock() || lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= 4 * bytes;
}

// Writes stream `seed` from buffer `index`, reads it back into buffer `into`, and says what is wrong.
task<std::string> round_trip(fixed_buffers* fb, int fd, unsigned index, unsigned into, std::uint64_t seed, std::int64_t offset) {
  mutable_buffer out = fb->buffer(index), in = fb->buffer(into);
  fill_stream(out.data(), out.size(), seed, 0);
  auto w = co_await fb->write_at(fd, index, offset);
  if (!w || *w != out.size()) co_return "write from buffer " + std::to_string(index) + " failed";
  std::fill(in.begin(), in.end(), std::byte{0});
  auto r = co_await fb->read_at(fd, into, offset, out.size());
  if (!r || *r != out.size()) co_return "read into buffer " + std::to_string(into) + " failed";
  if (first_stream_mismatch(in.data(), out.size(), seed, 0) != out.size()) co_return "bytes differ after the round trip";
  co_return std::string();
}

// In a child: gives up CAP_IPC_LOCK, lets notices through, starts a runtime, then lowers
// RLIMIT_MEMLOCK to `limit` and runs `body(rt, expectations)`; finally `check_log(log,
// expectations, backend)` sees what was logged. Returns the unmet expectations, "" if none.
template <class Body, class CheckLog>
std::string under_locked_memory_limit(std::size_t limit, Body body, CheckLog check_log) {
  expectations e;
  if (std::string why = drop_ipc_lock(); !why.empty()) return why;
  ::unsetenv("COURING_LOG");  // the child is single-threaded until its runtime starts
  stderr_capture logs;
  backend_kind kind{};
  {
    runtime_config notices;
    notices.log_threshold = log_level::notice;
    runtime rt(notices);
    kind = rt.backend();
    if (std::string why = limit_locked_memory(limit); !why.empty()) return why;
    body(rt, e);
  }
  std::string logged = logs.finish();
  check_log(logged, e, kind);
  return e.failures().empty() ? std::string() : e.failures() + "logged:\n" + logged;
}

void require_clean(const child_outcome& child) {
  INFO(child.report);
  REQUIRE(child.exited);
  CHECK(child.status == 0);
  CHECK(child.report.empty());
}

}  // namespace

TEST_CASE("reads and writes through registered buffers are byte-exact, each buffer at its own index",
          "[uring][fixed_buffers]") {
  fd_leak_check leaks;
  temp_dir dir;
  unique_fd fd(::open(dir.file("data").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  REQUIRE(fd.valid());
  std::vector<std::byte> small(4096), medium(64 * 1024), large(1 << 20), spare(1 << 20);
  run([&]() -> task<void> {
    fixed_buffers fb({buffer(small), buffer(medium), buffer(large), buffer(spare)});
    CHECK(fb.count() == 4);
    CHECK(fb.buffer(2).data() == large.data());
    if (runtime::current()->backend() == backend_kind::thread_pool) CHECK_FALSE(fb.in_kernel());
    else if (registration_fits(small.size() + medium.size() + large.size() + spare.size())) CHECK(fb.in_kernel());
    for (unsigned i = 0; i < 3; ++i) {
      std::string wrong = co_await round_trip(&fb, fd.get(), i, 3, 100 + i, static_cast<std::int64_t>(i) * (1 << 21));
      INFO("buffer " << i);
      CHECK(wrong.empty());
    }
  }());
}

TEST_CASE("registered buffers: partial lengths, short reads at the end, an index out of range",
          "[uring][fixed_buffers]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 10000);
  unique_fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(fd.valid());
  std::vector<std::byte> a(8192), b(8192);
  run([&]() -> task<void> {
    fixed_buffers fb({buffer(a), buffer(b)});
    auto part = co_await fb.read_at(fd.get(), 0, 100, 10);  // only the first 10 bytes of buffer 0
    REQUIRE(part);
    CHECK(*part == 10);
    CHECK(a[9] == static_cast<std::byte>(pattern_byte(109)));
    CHECK(a[10] == std::byte{0});
    auto tail = co_await fb.read_at(fd.get(), 1, 9000);  // 1000 bytes are left
    REQUIRE(tail);
    CHECK(*tail == 1000);
    CHECK(b[999] == static_cast<std::byte>(pattern_byte(9999)));
    auto at_end = co_await fb.read_at(fd.get(), 1, 10000);
    REQUIRE(at_end);
    CHECK(*at_end == 0);
    auto longer = co_await fb.write_at(fd.get(), 0, 20000, 1 << 20);  // clamped to the buffer
    REQUIRE(longer);
    CHECK(*longer == a.size());
    auto out_of_range = co_await fb.read_at(fd.get(), 2, 0);
    REQUIRE_FALSE(out_of_range);
    CHECK(out_of_range.error() == std::errc::invalid_argument);
    auto bad_fd = co_await fb.read_at(-1, 0, 0);
    REQUIRE_FALSE(bad_fd);
    CHECK(bad_fd.error() == std::errc::bad_file_descriptor);
  }());
  CHECK(slurp(path).size() == 20000 + 8192);
}

TEST_CASE("under a tiny RLIMIT_MEMLOCK registered buffers fall back to plain ops, byte-exact, reported once",
          "[uring][fixed_buffers][memlock]") {
  temp_dir dir;
  std::string path = dir.file("data");
  require_clean(in_child([&] {
    return under_locked_memory_limit(
        64 * 1024,
        [&](runtime& rt, expectations& e) {
          rt.run([&]() -> task<void> {
            unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
            std::vector<std::byte> one(1 << 20), two(1 << 20);
            for (int attempt = 0; attempt < 2; ++attempt) {  // the second refusal is not reported again
              fixed_buffers fb({buffer(one), buffer(two)});
              e.check(!fb.in_kernel(), "2 MiB of buffers are not registered under a 64 KiB limit");
              std::string wrong = co_await round_trip(&fb, fd.get(), 0, 1, 7 + attempt, 0);
              e.check(wrong.empty(), "byte-exact without registration: " + wrong);
            }
          }());
        },
        [](const std::string& logged, expectations& e, backend_kind kind) {
          // The thread pool has no registration to refuse: nothing to report there.
          std::size_t expected = kind == backend_kind::io_uring ? 1 : 0;
          e.check(occurrences(logged, "registered buffers unavailable") == expected,
                  "the refusal is logged " + std::to_string(expected) + " time(s)");
        });
  }));
}

TEST_CASE("a buffer_pool whose ring is refused under RLIMIT_MEMLOCK 0 still delivers every byte, reported once",
          "[uring][memlock][buffer_pool]") {
  require_clean(in_child([&] {
    bool kernel_ring = false, ring_possible = false;
    return under_locked_memory_limit(
        0,
        [&](runtime& rt, expectations& e) {
          rt.run([&]() -> task<void> {
            auto conn = co_await loopback_tcp();
            e.check(static_cast<bool>(conn), "a loopback connection");
            if (!conn) co_return;
            buffer_pool pool(8, 4096);
            buffer_pool another(8, 4096);  // a second refusal is not reported again
            kernel_ring = pool.kernel_selects();
            ring_possible = runs_natively(request_index<recv_multishot_req>());
            const std::size_t total = 1 << 20;
            std::vector<std::byte> data(total);
            fill_stream(data.data(), total, 3, 0);
            auto sent = co_await send_all(conn->near.fd(), const_buffer(data.data(), total));
            e.check(static_cast<bool>(sent), "the bytes were sent");
            auto down = co_await couring::shutdown(conn->near.fd(), SHUT_WR);
            e.check(static_cast<bool>(down), "shutdown");
            recv_stream in(conn->far, pool);
            std::size_t position = 0;
            for (;;) {
              auto chunk = co_await in.next();
              if (!chunk) {
                e.check(chunk.error() == error::end_of_file, "the stream ends with end_of_file");
                break;
              }
              e.check(first_stream_mismatch(chunk->data(), chunk->size(), 3, position) == chunk->size(), "bytes in order");
              position += chunk->size();
            }
            e.check(position == total, "every byte arrived");
          }());
        },
        [&](const std::string& logged, expectations& e, backend_kind kind) {
          // Refused (and said so, once) only where the backend offers provided-buffer rings at all.
          bool refused = kind == backend_kind::io_uring && ring_possible && !kernel_ring;
          e.check(occurrences(logged, "provided-buffer ring unavailable") == (refused ? 1u : 0u),
                  "a refused ring is logged exactly once");
        });
  }));
}

TEST_CASE("with RLIMIT_MEMLOCK at 0 io_uring either comes up or fails with an error naming RLIMIT_MEMLOCK",
          "[uring][memlock][ring]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 4096);
  require_clean(in_child([&] {
    expectations e;
    if (std::string why = drop_ipc_lock(); !why.empty()) return why;
    if (std::string why = limit_locked_memory(0); !why.empty()) return why;
    try {
      runtime rt;
      rt.run([&]() -> task<void> {
        unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        std::vector<std::byte> buf(4096);
        auto r = co_await read_at(fd.get(), buffer(buf), 0);
        e.check(r && *r == 4096 && buf[4095] == static_cast<std::byte>(pattern_byte(4095)), "a read works on that runtime");
      }());
    } catch (const std::system_error& error) {
      // Only a forced io_uring may fail (automatic selection falls back), and it must say why.
      e.check(error.code() == couring::error::backend_unavailable, "the error is backend_unavailable");
      e.contains(error.what(), "RLIMIT_MEMLOCK", "the error");
    }
    return e.failures();
  }));
}

TEST_CASE("with RLIMIT_MEMLOCK at 0 automatic selection uses io_uring or falls back, naming RLIMIT_MEMLOCK",
          "[uring][memlock][ring]") {
  require_clean(in_child([&] {
    expectations e;
    if (std::string why = drop_ipc_lock(); !why.empty()) return why;
    if (std::string why = limit_locked_memory(0); !why.empty()) return why;
    ::setenv("COURING_BACKEND", "auto", 1);  // the child is single-threaded: setenv is safe
    runtime rt;
    const std::string& why = rt.backend_reason();
    // Where io_uring is denied anyway (the seccomp variants) the reason names that instead.
    if (rt.backend() == backend_kind::thread_pool && why.find("seccomp") == std::string::npos)
      e.contains(why, "RLIMIT_MEMLOCK", "the reason for the thread pool");
    std::size_t n = rt.run([]() -> task<std::size_t> {
      auto conn = co_await loopback_tcp();
      if (!conn) co_return 0;
      std::string hello = "hello";
      auto sent = co_await send_all(conn->near.fd(), const_buffer_of(hello));
      if (!sent) co_return 0;
      std::array<char, 8> buf{};
      auto got = co_await recv(conn->far.fd(), buffer(buf));
      co_return got ? *got : 0;
    }());
    e.check(n == 5, "bytes flow on the chosen backend");
    return e.failures();
  }));
}
