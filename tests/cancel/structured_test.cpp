// Structured concurrency: when_all, when_any and task_group await every child they started, cancel
// the others when one fails (or, for when_any, wins), and report which exception wins.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
using couring::testing::temp_dir;
namespace t = couring::testing;

namespace {

template <class R>
std::error_code error_of(const R& r) {
  return r ? std::error_code{} : r.error();
}

// How a child ended: whether it finished, and what its last op said.
struct child_log {
  bool finished = false;
  std::error_code last;
  int writes = 0;
};

task<int> value_after(int v, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  co_return v;
}

task<int> value_after_sleep(int v, std::chrono::milliseconds d) {
  auto r = co_await sleep_for(d);
  r.value();
  co_return v;
}

task<void> sleep_logged(std::chrono::milliseconds d, child_log* log) {
  auto r = co_await sleep_for(d);
  log->last = error_of(r);
  log->finished = true;
}

task<void> recv_logged(int fd, child_log* log) {
  std::array<char, 8> buf{};
  auto r = co_await couring::recv(fd, buffer(buf));
  log->last = error_of(r);
  log->finished = true;
}

task<void> throw_after(int yields, const char* what) {
  for (int i = 0; i < yields; ++i) co_await yield();
  throw std::runtime_error(what);
}

// Waits for a cancellation, then fails with its own exception (a typical consequence).
task<void> throw_when_cancelled(const char* what, child_log* log) {
  auto r = co_await sleep_for(1h);
  log->last = error_of(r);
  log->finished = true;
  throw std::runtime_error(what);
}

task<void> stop_after(stop_source* src, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  src->request_stop();
}

std::string what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

// ---- when_all ----------------------------------------------------------------------------------

task<void> all_results(int sock, int* checked) {
  std::array<char, 8> buf{};
  auto [a, b, c] = co_await when_all(value_after(1, 2), couring::recv(sock, buffer(buf)), sleep_for(1ms));
  CHECK(a == 1);
  REQUIRE(b);
  CHECK(std::string(buf.data(), *b) == "abc");
  CHECK(c);

  std::vector<task<int>> range;
  // The later ones finish first; results still come in the tasks' order.
  for (int i = 0; i < 5; ++i) range.push_back(value_after_sleep(i, std::chrono::milliseconds(5 - i)));
  auto values = co_await when_all(std::move(range));
  CHECK(values == std::vector<int>{0, 1, 2, 3, 4});

  // Error results are values like any other: they cancel nothing.
  auto [bad, good] = co_await when_all(couring::recv(-1, buffer(buf)), sleep_for(2ms));
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == std::errc::bad_file_descriptor);
  CHECK(good);
  ++*checked;
}

TEST_CASE("when_all yields every result in argument order, for a pack and for a range", "[cancel][when_all]") {
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  REQUIRE(::send(peer.get(), "abc", 3, 0) == 3);
  int checked = 0;
  run([&]() -> task<void> { co_await all_results(sock.get(), &checked); }());
  CHECK(checked == 1);
}

task<void> all_with_failure(int sock, int* checked) {
  child_log receiver, sleeper, second;
  std::string caught;
  try {
    (void)co_await when_all(recv_logged(sock, &receiver), throw_after(2, "first"), sleep_logged(1h, &sleeper),
                            throw_when_cancelled("second", &second));
  } catch (const std::runtime_error& e) {
    caught = e.what();
    // Rethrown only after every child finished, each by cancellation.
    CHECK(receiver.finished);
    CHECK(sleeper.finished);
    CHECK(second.finished);
  }
  CHECK(caught == "first");  // the first failure wins; later ones are consequences
  CHECK(receiver.last == std::errc::operation_canceled);
  CHECK(sleeper.last == std::errc::operation_canceled);
  CHECK(second.last == std::errc::operation_canceled);

  child_log a, b;
  std::vector<task<void>> range;
  range.push_back(sleep_logged(1h, &a));
  range.push_back(throw_after(1, "range"));
  range.push_back(recv_logged(sock, &b));
  caught.clear();
  try {
    (void)co_await when_all(std::move(range));
  } catch (const std::runtime_error& e) {
    caught = e.what();
  }
  CHECK(caught == "range");
  CHECK(a.finished);
  CHECK(b.finished);
  CHECK(a.last == std::errc::operation_canceled);
  CHECK(b.last == std::errc::operation_canceled);
  ++*checked;
}

TEST_CASE("when_all: a child's exception cancels the others and is rethrown after all finished",
          "[cancel][when_all]") {
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  int checked = 0;
  run([&]() -> task<void> { co_await all_with_failure(sock.get(), &checked); }());
  CHECK(checked == 1);
}

task<void> all_parent_token(int sock, int* checked) {
  child_log a, b;
  stop_source src;
  auto body = [](int fd, child_log* x, child_log* y) -> task<void> {
    (void)co_await when_all(sleep_logged(1h, x), recv_logged(fd, y));
  };
  co_await when_all(body(sock, &a, &b).with_token(src.token()), stop_after(&src, 3));
  CHECK(a.last == std::errc::operation_canceled);
  CHECK(b.last == std::errc::operation_canceled);
  ++*checked;
}

TEST_CASE("when_all: the parent's token cancels the children", "[cancel][when_all][token]") {
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  int checked = 0;
  run([&]() -> task<void> { co_await all_parent_token(sock.get(), &checked); }());
  CHECK(checked == 1);
}

// ---- when_any ------------------------------------------------------------------------------------

task<void> any_winner(int sock, int* checked) {
  std::array<char, 8> buf{};
  auto r = co_await when_any(sleep_for(1h), couring::recv(sock, buffer(buf)), value_after(42, 50));
  REQUIRE(r.index == 1);
  auto& got = std::get<1>(r.value);
  REQUIRE(got);
  CHECK(std::string(buf.data(), *got) == "win");

  // A child that finishes while the others are being started still wins; the others start
  // cancelled.
  child_log loser;
  auto quick = co_await when_any(value_after(7, 0), recv_logged(sock, &loser));
  CHECK(quick.index == 0);
  CHECK(std::get<0>(quick.value) == 7);
  CHECK(loser.finished);
  CHECK(loser.last == std::errc::operation_canceled);

  std::vector<task<int>> range;
  range.push_back(value_after_sleep(0, 1h));
  range.push_back(value_after(1, 3));
  range.push_back(value_after_sleep(2, 1h));
  auto ranged = co_await when_any(std::move(range));
  CHECK(ranged.index == 1);
  CHECK(ranged.value == 1);

  std::string caught;
  try {
    (void)co_await when_any(std::vector<task<int>>{});
  } catch (const std::invalid_argument& e) {
    caught = e.what();
  }
  CHECK_FALSE(caught.empty());
  ++*checked;
}

TEST_CASE("when_any yields the first finisher's index and result, for a pack and for a range", "[cancel][when_any]") {
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  REQUIRE(::send(peer.get(), "win", 3, 0) == 3);
  int checked = 0;
  run([&]() -> task<void> { co_await any_winner(sock.get(), &checked); }());
  CHECK(checked == 1);
}

// Writes one byte to the pipe at once, then one more every 10 s, five times, unless cancelled.
// (The long delay only makes sure the later writes cannot happen before the cancel; if the loser
// were left running, the test would see them.)
task<void> periodic_writer(int pipe_write, child_log* log) {
  for (int i = 0; i < 5; ++i) {
    if (i > 0) {
      auto r = co_await sleep_for(10s);
      log->last = error_of(r);
      if (!r) break;
    }
    REQUIRE(::write(pipe_write, "w", 1) == 1);
    ++log->writes;
  }
  log->finished = true;
}

task<void> locker(int fd, child_log* log) {
  auto r = co_await couring::lock(fd, lock_mode::exclusive);
  log->last = error_of(r);
  log->finished = true;
}

task<void> no_loser_left(int pipe_read, int pipe_write, int lock_fd, int* checked) {
  child_log writer, lock_waiter;
  std::array<char, 8> buf{};
  // The read wins as soon as the writer's first byte arrives; the writer (between sleeps) and
  // the lock (blocked on a worker) lose.
  auto r = co_await when_any(couring::read(pipe_read, buffer(buf)), periodic_writer(pipe_write, &writer),
                             locker(lock_fd, &lock_waiter));
  REQUIRE(r.index == 0);
  REQUIRE(std::get<0>(r.value));
  CHECK(*std::get<0>(r.value) == 1);
  // Every loser has finished by the time when_any returns, by cancellation.
  CHECK(writer.finished);
  CHECK(writer.writes == 1);
  CHECK(writer.last == std::errc::operation_canceled);
  CHECK(lock_waiter.finished);
  CHECK(lock_waiter.last == std::errc::operation_canceled);
  // ...and nothing of theirs happens afterwards.
  auto s = co_await sleep_for(20ms);
  REQUIRE(s);
  CHECK(t::drain(pipe_read) == 0);
  CHECK(writer.writes == 1);
  ++*checked;
}

TEST_CASE("when_any leaves no loser running: losers are cancelled and awaited, their side effects stop",
          "[cancel][when_any]") {
  temp_dir dir;
  fd_leak_check leaks;
  auto pipe_ends = t::pipe_pair();
  unique_fd& pipe_read = pipe_ends.first;
  unique_fd& pipe_write = pipe_ends.second;
  std::string lock_path = dir.make_pattern_file("lock", 1);
  unique_fd holder(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  unique_fd waiter(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(::flock(holder.get(), LOCK_EX | LOCK_NB) == 0);
  int checked = 0;
  run([&]() -> task<void> { co_await no_loser_left(pipe_read.get(), pipe_write.get(), waiter.get(), &checked); }());
  CHECK(checked == 1);
  REQUIRE(::flock(holder.get(), LOCK_UN) == 0);
  unique_fd third(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  CHECK(::flock(third.get(), LOCK_EX | LOCK_NB) == 0);  // the losing lock never took it
}

task<void> any_parent_token_and_throw(int sock, int* checked) {
  child_log a, b;
  stop_source src;
  auto body = [](int fd, child_log* x, child_log* y) -> task<std::size_t> {
    auto r = co_await when_any(sleep_logged(1h, x), recv_logged(fd, y));
    co_return r.index;
  };
  auto [index, stopped] = co_await when_all(body(sock, &a, &b).with_token(src.token()), stop_after(&src, 3));
  (void)index;
  (void)stopped;
  CHECK(a.finished);
  CHECK(b.finished);
  CHECK(a.last == std::errc::operation_canceled);
  CHECK(b.last == std::errc::operation_canceled);

  // A winner that threw: rethrown, after the losers finished.
  child_log loser;
  std::string caught;
  try {
    (void)co_await when_any(throw_after(1, "winner threw"), sleep_logged(1h, &loser));
  } catch (const std::runtime_error& e) {
    caught = e.what();
    CHECK(loser.finished);
  }
  CHECK(caught == "winner threw");
  CHECK(loser.last == std::errc::operation_canceled);
  ++*checked;
}

TEST_CASE("when_any: the parent's token cancels the children; a winner's exception is rethrown",
          "[cancel][when_any][token]") {
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  int checked = 0;
  run([&]() -> task<void> { co_await any_parent_token_and_throw(sock.get(), &checked); }());
  CHECK(checked == 1);
}

// ---- task_group ----------------------------------------------------------------------------------

task<void> group_joins_all(int* checked) {
  std::array<child_log, 8> logs{};
  task_group g;
  for (std::size_t i = 0; i < logs.size(); ++i) g.spawn(sleep_logged(std::chrono::milliseconds(1 + i % 4), &logs[i]));
  CHECK(g.running() == logs.size());
  co_await g.join();
  CHECK(g.running() == 0);
  for (auto& l : logs) {
    CHECK(l.finished);
    CHECK_FALSE(l.last);
  }
  CHECK(g.other_failures().empty());
  ++*checked;
}

TEST_CASE("task_group: join awaits every child", "[cancel][task_group]") {
  int checked = 0;
  run([&]() -> task<void> { co_await group_joins_all(&checked); }());
  CHECK(checked == 1);
}

task<void> group_first_failure(int sock, int* checked) {
  child_log receiver, second, third;
  task_group g;
  g.spawn(recv_logged(sock, &receiver));
  g.spawn(throw_when_cancelled("second", &second));
  g.spawn(throw_after(3, "first"));
  g.spawn(throw_when_cancelled("third", &third));
  std::string caught;
  try {
    co_await g.join();
  } catch (const std::runtime_error& e) {
    caught = e.what();
  }
  CHECK(caught == "first");
  CHECK(receiver.last == std::errc::operation_canceled);
  CHECK(second.last == std::errc::operation_canceled);
  CHECK(third.last == std::errc::operation_canceled);
  // The cancelled children's own failures are kept.
  REQUIRE(g.other_failures().size() == 2);
  std::vector<std::string> others{what_of(g.other_failures()[0]), what_of(g.other_failures()[1])};
  std::sort(others.begin(), others.end());
  CHECK(others == std::vector<std::string>{"second", "third"});
  ++*checked;
}

TEST_CASE("task_group: the first failure cancels the rest and is rethrown; other_failures() keeps the rest",
          "[cancel][task_group]") {
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  int checked = 0;
  run([&]() -> task<void> { co_await group_first_failure(sock.get(), &checked); }());
  CHECK(checked == 1);
}

task<void> body_spawns(task_group& g, child_log* a, child_log* b) {
  g.spawn(sleep_logged(2ms, a));
  g.spawn(sleep_logged(4ms, b));
  co_return;
}

task<void> body_throws(task_group& g, child_log* a, child_log* b) {
  g.spawn(throw_when_cancelled("child", a));
  g.spawn(sleep_logged(1h, b));
  co_await yield();
  throw std::runtime_error("body");
}

task<void> body_spawns_long(task_group& g, child_log* a, child_log* b) {
  g.spawn(sleep_logged(1h, a));
  g.spawn(sleep_logged(1h, b));
  co_return;
}

task<void> with_group(int* checked) {
  child_log a, b;
  co_await with_task_group([&](task_group& g) { return body_spawns(g, &a, &b); });
  CHECK(a.finished);  // the scope's end awaited both
  CHECK(b.finished);
  CHECK_FALSE(a.last);
  CHECK_FALSE(b.last);

  child_log c, d;
  std::string caught;
  try {
    co_await with_task_group([&](task_group& g) { return body_throws(g, &c, &d); });
  } catch (const std::runtime_error& e) {
    caught = e.what();
    CHECK(c.finished);  // children cancelled and awaited before the body's exception leaves
    CHECK(d.finished);
  }
  CHECK(caught == "body");  // the body's exception wins over the children's
  CHECK(c.last == std::errc::operation_canceled);
  CHECK(d.last == std::errc::operation_canceled);

  // The parent's token reaches the group's children.
  child_log e, f;
  stop_source src;
  co_await when_all(with_task_group([&](task_group& g) { return body_spawns_long(g, &e, &f); }).with_token(src.token()),
                    stop_after(&src, 3));
  CHECK(e.last == std::errc::operation_canceled);
  CHECK(f.last == std::errc::operation_canceled);
  ++*checked;
}

TEST_CASE("with_task_group awaits the children at scope end; body's exception cancels them and wins",
          "[cancel][task_group]") {
  int checked = 0;
  run([&]() -> task<void> { co_await with_group(&checked); }());
  CHECK(checked == 1);
}

// Leaves its scope by an exception with children still running: the group is destroyed unjoined.
task<void> abandon_group(child_log* a, child_log* b) {
  task_group g;
  g.spawn(sleep_logged(1h, a));
  g.spawn(throw_when_cancelled("orphan", b));
  co_await yield();
  co_await yield();
  throw std::runtime_error("scope left");
}

task<void> group_abandoned(int* checked) {
  child_log a, b;
  std::string caught;
  try {
    co_await abandon_group(&a, &b);
  } catch (const std::runtime_error& e) {
    caught = e.what();
  }
  CHECK(caught == "scope left");
  // The children were cancelled and finish on their own.
  for (int i = 0; i < 1000 && !(a.finished && b.finished); ++i) co_await yield();
  CHECK(a.finished);
  CHECK(b.finished);
  CHECK(a.last == std::errc::operation_canceled);
  CHECK(b.last == std::errc::operation_canceled);
  ++*checked;
}

TEST_CASE("a task_group destroyed without join cancels its children; their failures reach the handler",
          "[cancel][task_group]") {
  fd_leak_check leaks;
  std::vector<std::string> unhandled;
  runtime_config cfg;
  cfg.on_unhandled_exception = [&](std::exception_ptr e) { unhandled.push_back(what_of(e)); };
  int checked = 0;
  run([&]() -> task<void> { co_await group_abandoned(&checked); }(), cfg);
  CHECK(checked == 1);
  CHECK(unhandled == std::vector<std::string>{"orphan"});
}

task<void> group_cancel(int* checked) {
  std::array<child_log, 4> logs{};
  task_group g;
  for (auto& l : logs) g.spawn(sleep_logged(1h, &l));
  co_await yield();
  g.cancel();
  co_await g.join();
  for (auto& l : logs) CHECK(l.last == std::errc::operation_canceled);
  ++*checked;
}

TEST_CASE("task_group::cancel() cancels every child; join then returns normally", "[cancel][task_group]") {
  int checked = 0;
  run([&]() -> task<void> { co_await group_cancel(&checked); }());
  CHECK(checked == 1);
}

}  // namespace
