// signal_set: process-directed signals reach a waiting sigs.wait(); the wait is cancellable; the
// thread's signal mask and the program's handlers are as they were once the set is closed.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
namespace t = couring::testing;

namespace {

bool blocked(int sig) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, sig) == 1;
}

bool pending(int sig) {
  sigset_t set;
  sigpending(&set);
  return sigismember(&set, sig) == 1;
}

task<void> wait_recorded(const signal_set* sigs, stop_token tok, result<int>* out) {
  *out = co_await sigs->wait().with_token(std::move(tok));
}

task<void> kill_after(int sig, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  REQUIRE(::kill(::getpid(), sig) == 0);
}

task<void> stop_after(stop_source* src, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  src->request_stop();
}

task<void> deliver_int_and_term(const signal_set* sigs, int* checked) {
  for (int sig : {SIGINT, SIGTERM, SIGINT}) {
    result<int> got = std::errc::io_error;
    // Sent while the wait is in flight.
    co_await when_all(wait_recorded(sigs, {}, &got), kill_after(sig, 3));
    REQUIRE(got);
    CHECK(*got == sig);
  }
  // Sent before anyone waits: it waits, pending, for the next wait.
  REQUIRE(::kill(::getpid(), SIGTERM) == 0);
  auto next = co_await sigs->wait();
  REQUIRE(next);
  CHECK(*next == SIGTERM);
  // Two different signals pending: both come, one per wait.
  REQUIRE(::kill(::getpid(), SIGINT) == 0);
  REQUIRE(::kill(::getpid(), SIGTERM) == 0);
  auto a = co_await sigs->wait();
  auto b = co_await sigs->wait();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a + *b == SIGINT + SIGTERM);
  ++*checked;
}

TEST_CASE("SIGINT and SIGTERM sent to the process are delivered to a waiting signal_set", "[cancel][signal]") {
  fd_leak_check leaks;
  int checked = 0;
  {
    auto sigs = signal_set::open({SIGINT, SIGTERM});
    REQUIRE(sigs);
    run([&]() -> task<void> { co_await deliver_int_and_term(&*sigs, &checked); }());
  }
  CHECK(checked == 1);
  CHECK_FALSE(pending(SIGINT));
  CHECK_FALSE(pending(SIGTERM));
}

task<void> cancel_wait(const signal_set* sigs, int* checked) {
  stop_source src;
  result<int> got = 0;
  co_await when_all(wait_recorded(sigs, src.token(), &got), stop_after(&src, 3));
  REQUIRE_FALSE(got);
  CHECK(got.error() == std::errc::operation_canceled);

  auto timed = co_await sigs->wait().with_timeout(10ms);
  REQUIRE_FALSE(timed);
  CHECK(timed.error() == std::errc::timed_out);

  // The set still works after its waits were cancelled, and no signal was swallowed by them.
  result<int> later = std::errc::io_error;
  co_await when_all(wait_recorded(sigs, {}, &later), kill_after(SIGUSR1, 2));
  REQUIRE(later);
  CHECK(*later == SIGUSR1);
  ++*checked;
}

TEST_CASE("a signal wait is cancellable (token and deadline) and the set keeps working", "[cancel][signal]") {
  fd_leak_check leaks;
  int checked = 0;
  {
    auto sigs = signal_set::open({SIGUSR1});
    REQUIRE(sigs);
    run([&]() -> task<void> { co_await cancel_wait(&*sigs, &checked); }());
  }
  CHECK(checked == 1);
}

TEST_CASE("the signal mask is restored when the last set for a signal is closed", "[cancel][signal]") {
  REQUIRE_FALSE(blocked(SIGUSR1));
  {
    auto first = signal_set::open({SIGUSR1});
    REQUIRE(first);
    CHECK(blocked(SIGUSR1));
    {
      auto second = signal_set::open({SIGUSR1, SIGUSR2});
      REQUIRE(second);
      CHECK(blocked(SIGUSR2));
    }
    CHECK(blocked(SIGUSR1));  // `first` still wants it
    CHECK_FALSE(blocked(SIGUSR2));
  }
  CHECK_FALSE(blocked(SIGUSR1));

  // A signal the thread had blocked itself stays blocked.
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &usr2, nullptr) == 0);
  {
    auto s = signal_set::open({SIGUSR2});
    REQUIRE(s);
  }
  CHECK(blocked(SIGUSR2));
  REQUIRE(pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr) == 0);

  auto bad = signal_set::open({SIGKILL});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == std::errc::invalid_argument);
  CHECK_FALSE(blocked(SIGKILL));
}

volatile sig_atomic_t handled = 0;
void count_usr1(int) { handled = handled + 1; }

task<void> wait_one(const signal_set* sigs, result<int>* out) { *out = co_await sigs->wait(); }

TEST_CASE("a user handler does not run while a set holds its signal; pending signals die with the set",
          "[cancel][signal]") {
  struct sigaction sa {}, previous{};
  sa.sa_handler = count_usr1;
  sigemptyset(&sa.sa_mask);
  REQUIRE(sigaction(SIGUSR1, &sa, &previous) == 0);
  handled = 0;
  {
    auto sigs = signal_set::open({SIGUSR1});
    REQUIRE(sigs);
    REQUIRE(::kill(::getpid(), SIGUSR1) == 0);
    result<int> got = std::errc::io_error;
    run(wait_one(&*sigs, &got));
    REQUIRE(got);
    CHECK(*got == SIGUSR1);
    CHECK(handled == 0);  // the set received it instead of the handler
    REQUIRE(::kill(::getpid(), SIGUSR1) == 0);
    CHECK(pending(SIGUSR1));
  }
  // Closing consumed the pending one (it was meant for the set): the handler never saw it.
  CHECK_FALSE(pending(SIGUSR1));
  CHECK(handled == 0);
  // The handler is in charge again.
  REQUIRE(::kill(::getpid(), SIGUSR1) == 0);
  CHECK(handled == 1);
  REQUIRE(sigaction(SIGUSR1, &previous, nullptr) == 0);
}

}  // namespace
