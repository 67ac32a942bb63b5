// Graceful shutdown: when run() ends (its task returned, or runtime::stop() was called from another
// thread) with ops in flight, every op is cancelled and its completion awaited, tasks that can
// never finish are destroyed, and no fd, thread or frame (ASan's leak check) is left behind.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
using couring::testing::temp_dir;
namespace t = couring::testing;

namespace {

// Descriptors the in-flight ops wait on; they outlive the runtime.
struct fixture {
  std::vector<t::fd_pair> sockets;
  std::vector<t::fd_pair> pipes;
  std::vector<unix_listener> listeners;
  std::vector<t::fd_pair> stubborn;  // first: moved into the task that owns it
  unique_fd lock_holder;
  std::vector<unique_fd> lock_waiters;
};

struct tallies {
  std::vector<int> resumed;      // per op: times its awaiter came back
  std::vector<int> canceled;     // per op: came back with operation_canceled
  int destroyed_unfinished = 0;  // frames destroyed by shutdown while suspended
  int finished_structured = 0;
};

template <class R>
void note(tallies* s, std::size_t id, const R& r) {
  ++s->resumed[id];
  if (!r && r.error() == std::errc::operation_canceled) ++s->canceled[id];
}

task<void> pending_recv(int fd, bool deadline, std::size_t id, tallies* s) {
  std::array<char, 16> buf{};
  if (deadline) {
    auto r = co_await couring::recv(fd, buffer(buf)).with_timeout(1h);
    note(s, id, r);
  } else {
    auto r = co_await couring::recv(fd, buffer(buf));
    note(s, id, r);
  }
}

task<void> pending_sleep(std::size_t id, tallies* s) {
  auto r = co_await sleep_for(1h);
  note(s, id, r);
}

task<void> pending_accept(const unix_listener* l, std::size_t id, tallies* s) {
  auto r = co_await l->accept();
  note(s, id, r);
}

task<void> pending_poll(int fd, std::size_t id, tallies* s) {
  auto r = co_await couring::poll(fd, POLLIN);
  note(s, id, r);
}

// A lock that waits on a worker (the file is locked through another descriptor).
task<void> pending_lock(int fd, std::size_t id, tallies* s) {
  auto r = co_await couring::lock(fd, lock_mode::exclusive);
  note(s, id, r);
}

task<void> pending_any(int fd, std::size_t id, tallies* s) {
  std::array<char, 4> buf{};
  auto r = co_await when_any(couring::recv(fd, buffer(buf)), sleep_for(1h));
  ++s->resumed[id];
  ++s->finished_structured;
  if (r.index == 0 && !std::get<0>(r.value) && std::get<0>(r.value).error() == std::errc::operation_canceled) ++s->canceled[id];
  if (r.index == 1 && !std::get<1>(r.value) && std::get<1>(r.value).error() == std::errc::operation_canceled) ++s->canceled[id];
}

task<void> group_child(int* canceled) {
  auto r = co_await sleep_for(1h);
  if (!r && r.error() == std::errc::operation_canceled) ++*canceled;
}

task<void> spawn_children(task_group& g, int* canceled) {
  for (int i = 0; i < 3; ++i) g.spawn(group_child(canceled));
  co_return;
}

// A scope with three children: it ends when shutdown has cancelled them all.
task<void> group_of_sleepers(std::size_t id, tallies* s) {
  int canceled = 0;
  co_await with_task_group([&](task_group& g) { return spawn_children(g, &canceled); });
  ++s->resumed[id];
  if (canceled == 3) ++s->canceled[id];
  ++s->finished_structured;
}

// Counts a frame destroyed before it finished.
struct destruction_witness {
  int* destroyed;
  bool finished = false;
  ~destruction_witness() {
    if (!finished) ++*destroyed;
  }
};

// Owns a socket and retries its recv whatever happens: once shutdown stops submitting, it stays
// suspended and is destroyed, which closes the socket its frame owns.
task<void> stubborn(unique_fd own, tallies* s) {
  destruction_witness w{&s->destroyed_unfinished};
  std::array<char, 4> buf{};
  for (;;) {
    auto r = co_await couring::recv(own.get(), buffer(buf));
    if (r && *r == 0) break;
  }
  w.finished = true;
}

constexpr std::size_t sockets = 300, deadline_sockets = 100, sleeps = 270, accepts = 100, polls = 100, locks = 150,
                      anys = 20, groups = 10, stubborn_tasks = 20;
constexpr std::size_t total_ops = sockets + sleeps + accepts + polls + locks + anys + groups;

fixture make_fixture(const temp_dir& dir) {
  fixture f;
  for (std::size_t i = 0; i < sockets + anys; ++i) f.sockets.push_back(t::socket_pair());
  for (std::size_t i = 0; i < stubborn_tasks; ++i) f.stubborn.push_back(t::socket_pair());
  for (std::size_t i = 0; i < polls / 2; ++i) f.pipes.push_back(t::pipe_pair());
  for (std::size_t i = 0; i < 10; ++i) f.listeners.push_back(unix_listener::bind(dir.file("l" + std::to_string(i))).value());
  std::string lock_path = dir.make_pattern_file("lock", 1);
  f.lock_holder.reset(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  if (::flock(f.lock_holder.get(), LOCK_EX | LOCK_NB) != 0) throw std::runtime_error("cannot take the lock");
  for (std::size_t i = 0; i < locks; ++i) f.lock_waiters.emplace_back(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  return f;
}

// Spawns every op, lets them all reach the backend, and reports how many are in flight.
task<void> start_everything(runtime* rt, fixture* f, tallies* s, std::size_t* in_flight) {
  std::size_t id = 0;
  for (std::size_t i = 0; i < sockets; ++i) spawn(pending_recv(f->sockets[i].first.get(), i < deadline_sockets, id++, s));
  for (std::size_t i = 0; i < sleeps; ++i) spawn(pending_sleep(id++, s));
  for (std::size_t i = 0; i < accepts; ++i) spawn(pending_accept(&f->listeners[i % f->listeners.size()], id++, s));
  for (std::size_t i = 0; i < polls; ++i) spawn(pending_poll(f->pipes[i / 2].first.get(), id++, s));
  for (std::size_t i = 0; i < locks; ++i) spawn(pending_lock(f->lock_waiters[i].get(), id++, s));
  for (std::size_t i = 0; i < anys; ++i) spawn(pending_any(f->sockets[sockets + i].first.get(), id++, s));
  for (std::size_t i = 0; i < groups; ++i) spawn(group_of_sleepers(id++, s));
  for (auto& pair : f->stubborn) spawn(stubborn(std::move(pair.first), s));
  for (int i = 0; i < 5; ++i) co_await yield();
  *in_flight = rt->sched().ops_in_flight();
}

void check_tallies(const tallies& s) {
  std::size_t not_once = 0, not_canceled = 0;
  for (std::size_t i = 0; i < total_ops; ++i) {
    not_once += s.resumed[i] != 1;
    not_canceled += s.canceled[i] != 1;
  }
  CHECK(not_once == 0);
  CHECK(not_canceled == 0);
  CHECK(s.finished_structured == static_cast<int>(anys + groups));
  CHECK(s.destroyed_unfinished == static_cast<int>(stubborn_tasks));
}

TEST_CASE("run() ending with 1,000+ ops in flight cancels and awaits them all; nothing leaks",
          "[cancel][shutdown]") {
  temp_dir dir;
  const std::size_t threads_before = t::user_thread_count();
  fd_leak_check leaks;
  fixture f = make_fixture(dir);
  tallies s;
  s.resumed.assign(total_ops, 0);
  s.canceled.assign(total_ops, 0);
  std::size_t in_flight = 0;
  {
    runtime rt;
    rt.run(start_everything(&rt, &f, &s, &in_flight));
    CHECK(rt.sched().ops_in_flight() == 0);
    CHECK(rt.sched().detached_count() == 0);
    CHECK(rt.sched().timers_armed() == 0);
  }
  CHECK(in_flight >= 1000);
  check_tallies(s);
  f = fixture{};
  CHECK(t::user_thread_count() == threads_before);  // the worker pool is gone
}

task<void> serve_until_stopped(runtime* rt, fixture* f, tallies* s, std::size_t* in_flight, std::atomic<int>* ready,
                               std::error_code* root_sleep) {
  co_await start_everything(rt, f, s, in_flight);
  ready->store(1, std::memory_order_release);  // pairs with the stopper's acquire
  ready->notify_one();
  auto r = co_await sleep_for(1h);
  *root_sleep = r ? std::error_code{} : r.error();
}

TEST_CASE("runtime::stop() from another thread with 1,000+ ops in flight cancels and awaits them all",
          "[cancel][shutdown][threads]") {
  temp_dir dir;
  const std::size_t threads_before = t::user_thread_count();
  fd_leak_check leaks;
  fixture f = make_fixture(dir);
  tallies s;
  s.resumed.assign(total_ops, 0);
  s.canceled.assign(total_ops, 0);
  std::size_t in_flight = 0;
  std::error_code root_sleep;
  {
    runtime rt;
    std::atomic<int> ready{0};
    std::thread stopper([&] {
      while (ready.load(std::memory_order_acquire) == 0) ready.wait(0, std::memory_order_acquire);
      rt.stop();
    });
    // The root task is cancelled like everything else; it may still finish during shutdown (then
    // run() returns), or be destroyed unfinished (then run() reports operation_canceled).
    try {
      rt.run(serve_until_stopped(&rt, &f, &s, &in_flight, &ready, &root_sleep));
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::operation_canceled);
    }
    stopper.join();
    CHECK(rt.sched().ops_in_flight() == 0);
    CHECK(rt.sched().detached_count() == 0);
  }
  CHECK(in_flight >= 1000);
  CHECK(root_sleep == std::errc::operation_canceled);
  check_tallies(s);
  f = fixture{};
  CHECK(t::user_thread_count() == threads_before);
}

}  // namespace
