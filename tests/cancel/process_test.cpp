// Child processes awaited through a pidfd: exit codes and killing signals are reported as they
// happened, and a cancelled wait leaves the child running (and unreaped) for a later wait.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

extern char** environ;

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
namespace t = couring::testing;

namespace {

// True while `pid` is a child that has not exited (WNOWAIT: nothing is reaped).
bool still_running(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;
}

// Blocks until `pid` has exited, without reaping it.
void wait_exited(pid_t pid) {
  siginfo_t info{};
  REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0);
}

task<void> exit_codes(int* checked) {
  auto three = child_process::spawn({"sh", "-c", "exit 3"});
  REQUIRE(three);
  auto s3 = co_await three->wait();
  REQUIRE(s3);
  CHECK(s3->exited());
  CHECK(s3->code == 3);
  CHECK(s3->signal == 0);

  auto zero = child_process::spawn({"true"});
  REQUIRE(zero);
  auto s0 = co_await zero->wait();
  REQUIRE(s0);
  CHECK(s0->code == 0);

  auto killed = child_process::spawn({"sh", "-c", "kill -KILL $$"});
  REQUIRE(killed);
  auto sk = co_await killed->wait();
  REQUIRE(sk);
  CHECK(sk->killed());
  CHECK(sk->signal == SIGKILL);

  auto missing = child_process::spawn({"/nonexistent/couring-no-such-program"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == std::errc::no_such_file_or_directory);
  ++*checked;
}

TEST_CASE("a child that exits with status 3 is reported as 3; one killed by a signal reports it",
          "[cancel][process]") {
  fd_leak_check leaks;
  int checked = 0;
  run([&]() -> task<void> { co_await exit_codes(&checked); }());
  CHECK(checked == 1);
}

task<void> kill_child(int* checked) {
  auto child = child_process::spawn({"sleep", "1000"});
  REQUIRE(child);
  REQUIRE(child->kill(SIGTERM));
  auto s = co_await child->wait();
  REQUIRE(s);
  CHECK(s->signal == SIGTERM);
  ++*checked;
}

TEST_CASE("kill() delivers its signal to the child, whose wait reports it", "[cancel][process]") {
  fd_leak_check leaks;
  int checked = 0;
  run([&]() -> task<void> { co_await kill_child(&checked); }());
  CHECK(checked == 1);
}

task<void> wait_recorded(const child_process* c, result<exit_status>* out) { *out = co_await c->wait(); }

task<void> stop_after(stop_source* src, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  src->request_stop();
}

task<void> cancel_wait_then_reap(const child_process* child, t::fd_pair* stdin_pipe, int* checked) {
  stop_source src;
  result<exit_status> first = std::errc::io_error;
  co_await when_all(wait_recorded(child, &first).with_token(src.token()), stop_after(&src, 3));
  REQUIRE_FALSE(first);
  CHECK(first.error() == std::errc::operation_canceled);
  CHECK(still_running(child->pid()));  // the cancelled wait left the child alone

  // A wait given up by the caller's own timeout (when_any with a sleep) also leaves it running.
  auto timed = co_await when_any(child->wait(), sleep_for(10ms));
  CHECK(timed.index == 1);
  CHECK(still_running(child->pid()));

  // The child ends when its stdin closes; a new wait reaps it.
  stdin_pipe->second.reset();
  auto s = co_await child->wait();
  REQUIRE(s);
  CHECK(s->exited());
  CHECK(s->code == 0);
  CHECK_FALSE(still_running(child->pid()));
  ++*checked;
}

TEST_CASE("cancelling a wait leaves the child running; a later wait reaps it", "[cancel][process]") {
  fd_leak_check leaks;
  auto stdin_pipe = t::pipe_pair();
  spawn_options options;
  options.stdin_fd = stdin_pipe.first.get();
  auto child = child_process::spawn({"cat"}, options);
  REQUIRE(child);
  stdin_pipe.first.reset();  // only the child reads it now
  int checked = 0;
  run([&]() -> task<void> { co_await cancel_wait_then_reap(&*child, &stdin_pipe, &checked); }());
  CHECK(checked == 1);
}

task<void> wait_by_pid(pid_t pid, int* checked) {
  auto s = co_await wait_child(pid);
  REQUIRE(s);
  CHECK(s->code == 5);
  auto gone = co_await wait_child(pid);  // reaped: no such child any more
  REQUIRE_FALSE(gone);
  CHECK(gone.error() == std::errc::no_such_process);
  ++*checked;
}

TEST_CASE("wait_child(pid) awaits a child started by other means", "[cancel][process]") {
  fd_leak_check leaks;
  pid_t pid = -1;
  const char* argv[] = {"sh", "-c", "exit 5", nullptr};
  REQUIRE(posix_spawnp(&pid, "sh", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
  int checked = 0;
  run([&]() -> task<void> { co_await wait_by_pid(pid, &checked); }());
  CHECK(checked == 1);
}

task<void> exited_before_wait(const child_process* child, int* checked) {
  wait_exited(child->pid());  // already a zombie: the pidfd is readable at once
  auto s = co_await child->wait();
  REQUIRE(s);
  CHECK(s->code == 7);
  ++*checked;
}

TEST_CASE("a child that exited before the wait started is reported too", "[cancel][process]") {
  fd_leak_check leaks;
  auto child = child_process::spawn({"sh", "-c", "exit 7"});
  REQUIRE(child);
  int checked = 0;
  run([&]() -> task<void> { co_await exited_before_wait(&*child, &checked); }());
  CHECK(checked == 1);
}

}  // namespace
