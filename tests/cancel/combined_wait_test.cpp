// The combined wait: a signal, a socket, a child process and a timer awaited together with
//   when_any(sigs.wait(), sock.recv(buf), child.wait(), sleep_for(5s))
// Each of the four wins in turn, whether its event was already there or arrives while waiting, and
// the three losers are cancelled without consuming anything of theirs.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
namespace t = couring::testing;

namespace {

enum winner : std::size_t { by_signal = 0, by_socket = 1, by_child = 2, by_timer = 3 };

bool still_running(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;
}

bool pending(int sig) {
  sigset_t set;
  sigpending(&set);
  return sigismember(&set, sig) == 1;
}

// What the combined wait listens to: a fresh child (`cat`, which exits when its stdin closes)
// and a fresh socket pair per round.
struct round_fixture {
  t::fd_pair sock = t::socket_pair();
  t::fd_pair child_stdin = t::pipe_pair();
  std::optional<child_process> child;

  round_fixture() {
    spawn_options o;
    o.stdin_fd = child_stdin.first.get();
    child.emplace(child_process::spawn({"cat"}, o).value());
    child_stdin.first.reset();
  }
  void end_child() { child_stdin.second.reset(); }
};

// Makes the chosen event happen (the child's: it has exited by the time this returns).
void make_event(winner w, round_fixture* f) {
  switch (w) {
    case by_signal: REQUIRE(::kill(::getpid(), SIGTERM) == 0); break;
    case by_socket: REQUIRE(::send(f->sock.second.get(), "data", 4, 0) == 4); break;
    case by_child: {
      f->end_child();
      siginfo_t info{};
      REQUIRE(::waitid(P_PID, static_cast<id_t>(f->child->pid()), &info, WEXITED | WNOWAIT) == 0);
      break;
    }
    case by_timer: break;
  }
}

task<void> event_after(winner w, round_fixture* f, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  make_event(w, f);
}

task<void> one_round(winner w, bool already_there, const signal_set* sigs, int* checked) {
  round_fixture f;
  std::array<char, 16> buf{};
  // Only the timer round relies on the timer; elsewhere 5 s merely guards against a hang.
  const auto timer = w == by_timer ? 20ms : 5000ms;
  std::size_t index = 99;
  if (already_there) {
    make_event(w, &f);
    auto r = co_await when_any(sigs->wait(), couring::recv(f.sock.first.get(), buffer(buf)), f.child->wait(),
                               sleep_for(timer));
    index = r.index;
    switch (r.index) {
      case by_signal: {
        auto& s = std::get<by_signal>(r.value);
        REQUIRE(s);
        CHECK(*s == SIGTERM);
        break;
      }
      case by_socket: {
        auto& n = std::get<by_socket>(r.value);
        REQUIRE(n);
        CHECK(std::string(buf.data(), *n) == "data");
        break;
      }
      case by_child: {
        auto& st = std::get<by_child>(r.value);
        REQUIRE(st);
        CHECK(st->code == 0);
        break;
      }
      default: CHECK(std::get<by_timer>(r.value)); break;
    }
  } else {
    auto [r, ignored] = co_await when_all(
        when_any(sigs->wait(), couring::recv(f.sock.first.get(), buffer(buf)), f.child->wait(), sleep_for(timer)),
        event_after(w, &f, 3));
    (void)ignored;
    index = r.index;
  }
  INFO("winner " << static_cast<int>(w) << (already_there ? ", event before the wait" : ", event during the wait"));
  CHECK(index == w);
  // The losers consumed nothing and changed nothing.
  CHECK_FALSE(pending(SIGTERM));
  if (w != by_socket) CHECK(t::drain(f.sock.first.get()) == 0);
  if (w != by_child) {
    CHECK(still_running(f.child->pid()));  // a cancelled child.wait() leaves it running
    f.end_child();
    auto st = co_await f.child->wait();  // then a new wait reaps it
    REQUIRE(st);
    CHECK(st->code == 0);
  }
  ++*checked;
}

task<void> all_rounds(const signal_set* sigs, int* checked) {
  for (bool already_there : {true, false}) {
    for (winner w : {by_signal, by_socket, by_child, by_timer}) co_await one_round(w, already_there, sigs, checked);
  }
}

TEST_CASE("when_any(sigs.wait(), sock.recv(buf), child.wait(), sleep_for(5s)): each of the four wins in turn",
          "[cancel][combined]") {
  fd_leak_check leaks;
  int checked = 0;
  {
    auto sigs = signal_set::open({SIGINT, SIGTERM});
    REQUIRE(sigs);
    run([&]() -> task<void> { co_await all_rounds(&*sigs, &checked); }());
  }
  CHECK(checked == 8);
}

}  // namespace
