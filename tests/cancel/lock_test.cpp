// File locks (flock semantics): a lock held by another process is granted once released; a
// waiting lock that is abandoned (token, deadline) ends cleanly and holds nothing; a grant that
// races the cancel is reported as held.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
using couring::testing::temp_dir;
namespace t = couring::testing;

namespace {

unique_fd open_rw(const std::string& path) { return unique_fd(::open(path.c_str(), O_RDWR | O_CLOEXEC)); }

// Whether anybody holds a lock on the file: a fresh open file description tries to take it.
bool lock_is_free(const std::string& path) {
  unique_fd probe = open_rw(path);
  auto r = try_lock(probe.get(), lock_mode::exclusive);
  return r && *r;  // closing `probe` releases it again
}

// `flock FILE sh -c '...'`: another process that holds the lock until its stdin closes, and says
// "locked" on its stdout once it has it.
struct lock_holder {
  t::fd_pair in = t::pipe_pair();
  t::fd_pair out = t::pipe_pair();
  std::optional<child_process> child;

  explicit lock_holder(const std::string& path, const char* mode = "-x") {
    spawn_options o;
    o.stdin_fd = in.first.get();
    o.stdout_fd = out.second.get();
    child.emplace(child_process::spawn({"flock", mode, path, "sh", "-c", "echo locked; cat >/dev/null"}, o).value());
    in.first.reset();  // the child's ends now belong to the child alone
    out.second.reset();
  }
  void release() { in.second.reset(); }  // cat sees EOF, sh and flock exit, the lock goes
};

// Waits for the holder's "locked".
task<void> until_locked(lock_holder* h) {
  std::array<char, 16> buf{};
  auto n = co_await couring::read(h->out.first.get(), buffer(buf));
  REQUIRE(n);
  REQUIRE(std::string(buf.data(), *n) == "locked\n");
}

struct lock_log {
  bool done = false;
  std::error_code error;
};

task<void> take_lock(int fd, lock_mode mode, lock_log* log) {
  auto r = co_await couring::lock(fd, mode);
  log->error = r ? std::error_code{} : r.error();
  log->done = true;
}

task<void> release_later(lock_holder* h, const lock_log* log, int* checked) {
  for (int i = 0; i < 5; ++i) co_await yield();
  auto s = co_await sleep_for(20ms);
  REQUIRE(s);
  CHECK_FALSE(log->done);  // it cannot have been granted: the other process still holds it
  h->release();
  auto st = co_await h->child->wait();
  REQUIRE(st);
  CHECK(st->code == 0);
  ++*checked;
}

task<void> acquired_on_release(lock_holder* h, int fd, std::string path, int* checked) {
  co_await until_locked(h);
  CHECK_FALSE(lock_is_free(path));
  lock_log log;
  co_await when_all(take_lock(fd, lock_mode::exclusive, &log), release_later(h, &log, checked));
  CHECK(log.done);
  CHECK_FALSE(log.error);
  CHECK_FALSE(lock_is_free(path));  // ours now
  REQUIRE(unlock(fd));
  CHECK(lock_is_free(path));
  ++*checked;
}

TEST_CASE("a lock held by another process is acquired when that process releases it", "[cancel][lock]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("locked", 1);
  fd_leak_check leaks;
  int checked = 0;
  {
    lock_holder h(path);
    unique_fd fd = open_rw(path);
    run([&]() -> task<void> { co_await acquired_on_release(&h, fd.get(), path, &checked); }());
  }
  CHECK(checked == 2);
}

task<void> lock_with_token(int fd, stop_token tok, lock_log* log) {
  auto r = co_await couring::lock(fd, lock_mode::exclusive).with_token(std::move(tok));
  log->error = r ? std::error_code{} : r.error();
  log->done = true;
}

task<void> stop_after(stop_source* src, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  src->request_stop();
}

task<void> abandoned_waits(lock_holder* h, int fd, std::string path, int* checked) {
  co_await until_locked(h);
  stop_source src;
  lock_log cancelled;
  co_await when_all(lock_with_token(fd, src.token(), &cancelled), stop_after(&src, 3));
  CHECK(cancelled.done);
  CHECK(cancelled.error == std::errc::operation_canceled);

  auto timed = co_await couring::lock(fd, lock_mode::shared).with_timeout(20ms);
  REQUIRE_FALSE(timed);
  CHECK(timed.error() == std::errc::timed_out);

  // Once the other process lets go, nobody holds the lock: neither abandoned wait took it.
  h->release();
  auto st = co_await h->child->wait();
  REQUIRE(st);
  CHECK(lock_is_free(path));
  ++*checked;
}

TEST_CASE("a waiting lock cancelled by its token or its deadline ends cleanly and holds nothing", "[cancel][lock]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("locked", 1);
  fd_leak_check leaks;
  int checked = 0;
  {
    lock_holder h(path);
    unique_fd fd = open_rw(path);
    run([&]() -> task<void> { co_await abandoned_waits(&h, fd.get(), path, &checked); }());
  }
  CHECK(checked == 1);
}

task<void> try_against_process(lock_holder* h, std::string path, int* checked) {
  co_await until_locked(h);
  unique_fd fd = open_rw(path);
  auto ex = try_lock(fd.get(), lock_mode::exclusive);
  REQUIRE(ex);
  CHECK_FALSE(*ex);
  auto sh = try_lock(fd.get(), lock_mode::shared);  // the holder's lock is shared: this one fits
  REQUIRE(sh);
  CHECK(*sh);
  REQUIRE(unlock(fd.get()));
  h->release();
  auto st = co_await h->child->wait();
  REQUIRE(st);
  ++*checked;
}

TEST_CASE("try_lock and unlock: free, shared and exclusive holders", "[cancel][lock]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("locked", 1);
  fd_leak_check leaks;
  unique_fd a = open_rw(path), b = open_rw(path), c = open_rw(path);
  auto ta = try_lock(a.get(), lock_mode::shared);
  auto tb = try_lock(b.get(), lock_mode::shared);
  auto tc = try_lock(c.get(), lock_mode::exclusive);
  REQUIRE(ta);
  REQUIRE(tb);
  REQUIRE(tc);
  CHECK(*ta);
  CHECK(*tb);
  CHECK_FALSE(*tc);  // two shared holders keep an exclusive one out
  REQUIRE(unlock(a.get()));
  REQUIRE(unlock(b.get()));
  auto again = try_lock(c.get(), lock_mode::exclusive);
  REQUIRE(again);
  CHECK(*again);
  REQUIRE(unlock(c.get()));
  CHECK(lock_is_free(path));
  auto bad = try_lock(-1, lock_mode::exclusive);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == std::errc::bad_file_descriptor);

  int checked = 0;
  lock_holder h(path, "-s");
  run([&]() -> task<void> { co_await try_against_process(&h, path, &checked); }());
  CHECK(checked == 1);
}

// One round: the holder lets go and the waiter is cancelled, in a random order and interleaving.
task<void> release_and_stop(int holder, stop_source* src, int yields, int order) {
  for (int i = 0; i < yields; ++i) co_await yield();
  if (order == 0) {
    REQUIRE(unlock(holder));
    src->request_stop();
  } else if (order == 1) {
    src->request_stop();
    REQUIRE(unlock(holder));
  } else if (order == 2) {
    REQUIRE(unlock(holder));
    for (int i = 0; i < 3; ++i) co_await yield();
    src->request_stop();
  } else if (order == 3) {
    REQUIRE(unlock(holder));  // and no stop: it can only be granted
  } else {
    src->request_stop();  // and the holder keeps it: it can only be cancelled
  }
}

task<void> lock_race_loop(int holder, int waiter, std::string path, std::size_t iterations, std::size_t* granted,
                          std::size_t* cancelled) {
  std::mt19937 rng(t::test_seed(0x10c4));
  for (std::size_t i = 0; i < iterations; ++i) {
    auto h = try_lock(holder, lock_mode::exclusive);
    REQUIRE(h);
    REQUIRE(*h);
    stop_source src;
    lock_log log;
    // Orders 0-2 race; 3 and 4 have one possible outcome each.
    const int order = static_cast<int>(i % 5);
    co_await when_all(lock_with_token(waiter, src.token(), &log),
                      release_and_stop(holder, &src, static_cast<int>(rng() % 3), order));
    if (order == 4) REQUIRE(unlock(holder));  // only now, after the wait ended
    INFO("iteration " << i << ", order " << order);
    REQUIRE(log.done);
    if (!log.error) {
      REQUIRE(order != 4);
      REQUIRE_FALSE(lock_is_free(path));  // granted: the result says held, and it is
      REQUIRE(unlock(waiter));
      ++*granted;
    } else {
      REQUIRE(log.error == std::errc::operation_canceled);
      REQUIRE(order != 3);
      REQUIRE(lock_is_free(path));  // cancelled: it holds nothing
      ++*cancelled;
    }
  }
}

TEST_CASE("a lock grant racing its cancel: held exactly when the result says so", "[cancel][lock][race]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("locked", 1);
  fd_leak_check leaks;
  unique_fd holder = open_rw(path), waiter = open_rw(path);
  std::size_t granted = 0, cancelled = 0;
  const std::size_t n = t::scaled(400, 2);
  run([&]() -> task<void> { co_await lock_race_loop(holder.get(), waiter.get(), path, n, &granted, &cancelled); }());
  std::printf("lock race: %zu granted, %zu operation_canceled\n", granted, cancelled);
  CHECK(granted + cancelled == n);
  CHECK(granted > 0);
  CHECK(cancelled > 0);
}

}  // namespace
