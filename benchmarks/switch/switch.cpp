// switch: what one suspend/resume round trip costs for each way code can wait in couring, next to
// the floors it is built on, and (with --idle N) what one idle unit of that kind costs in memory
// (issue 6). Measures one case once and prints one JSON line; scripts/bench (suite.py next to
// this file) repeats the cases and makes the table.
//
//   switch --case NAME [--ready N] [--seconds S] [--idle N]      (S: CPU seconds per measurement)
//
//   coroutine      two raw C++20 coroutines resuming each other by symmetric transfer: the floor
//                  for stackless code (no scheduler)
//   task           co_await yield() in a couring task: suspend, the ready queue, resume; with
//                  --ready N tasks yielding in turn, N ready units share each loop turn
//   fiber          this_fiber::await(yield()) in a couring fiber: a switch to the loop and back
//                  through the same ready queue; --ready N as for tasks
//   boost-context  a raw Boost.Context fiber resumed there and back: the floor for stackful code
//   thread-futex   two threads on one CPU handing a token back and forth through a futex
//   thread-pipe    the same through two pipes
//
// --idle N (task, fiber, thread-futex): before timing, a child process parks N idle units of the
// kind (tasks or fibers waiting on an async_event, threads on a futex) and reports resident and
// virtual memory per unit from /proc/self/statm; the child starts from a fresh heap, so memory
// freed by an earlier measurement cannot hide the cost.
//
// Everything runs on one CPU (the first this process may use; scripts/bench sets it with taskset),
// so the thread cases measure context switches, not wake-ups across CPUs.
#include "../common/args.hpp"
#include "../common/deadline.hpp"
#include "../common/report.hpp"

#include <couring/async_event.hpp>
#include <couring/fiber.hpp>
#include <couring/runtime.hpp>
#include <couring/spawn.hpp>
#include <couring/task.hpp>
#include <couring/when_all.hpp>
#include <couring/yield.hpp>

#include <boost/context/fiber.hpp>

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "switch: %s\n", what.c_str());
  std::exit(1);
}

int first_allowed_cpu() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) return c;
  }
  return 0;
}

void pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) fail("pthread_setaffinity_np failed");
}

// CPU time of the whole process (every thread, user and kernel). On a shared machine it leaves out
// the time other processes held the CPU, which wall time would charge to the switch being measured;
// on one CPU with the machine to itself, the two agree.
double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct timed {
  std::uint64_t round_trips = 0;
  double cpu_seconds = 0;
  double wall_seconds = 0;
};

// Runs `body(n)` (n round trips) with n grown until one run takes `seconds` of CPU time; the
// shorter runs before it are the warm-up. A round trip count, not a deadline, drives each run, so
// that the coroutine and fiber floors are not measured with a clock read inside their loop.
timed time_round_trips(const std::function<void(std::uint64_t)>& body, double seconds) {
  std::uint64_t n = 1000;
  for (;;) {
    double cpu_start = process_cpu_seconds();
    auto wall_start = bench::steady::now();
    body(n);
    double cpu = process_cpu_seconds() - cpu_start;
    double wall = bench::seconds_since(wall_start);
    if (cpu >= seconds) return {n, cpu, wall};
    double factor = cpu > 0 ? seconds / cpu * 1.2 : 10;
    n = static_cast<std::uint64_t>(static_cast<double>(n) * std::clamp(factor, 1.5, 100.0));
  }
}

// ---- stackless floor: symmetric transfer between two raw coroutines --------------------------

struct raw_coroutine {
  struct promise_type {
    raw_coroutine get_return_object() noexcept {
      return raw_coroutine{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::abort(); }
  };
  std::coroutine_handle<promise_type> handle;
};

struct transfer_to {
  std::coroutine_handle<>* target;
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept { return *target; }
  void await_resume() const noexcept {}
};

raw_coroutine ping(std::coroutine_handle<>* pong_handle, std::uint64_t n, std::uint64_t* done) {
  for (std::uint64_t i = 0; i < n; ++i) {
    co_await transfer_to{pong_handle};
    ++*done;
  }
}

raw_coroutine pong(std::coroutine_handle<>* ping_handle) {
  for (;;) co_await transfer_to{ping_handle};
}

void coroutine_round_trips(std::uint64_t n) {
  std::coroutine_handle<> ping_h, pong_h;
  std::uint64_t done = 0;
  raw_coroutine a = ping(&pong_h, n, &done);
  raw_coroutine b = pong(&ping_h);
  ping_h = a.handle;
  pong_h = b.handle;
  a.handle.resume();  // returns once ping has finished its n round trips
  if (done != n || !a.handle.done()) fail("coroutine ping-pong lost a transfer");
  a.handle.destroy();
  b.handle.destroy();
}

// ---- couring tasks and fibers through the scheduler ------------------------------------------

couring::runtime_config one_shard() {
  couring::runtime_config c;
  c.shards = 1;
  return c;
}

couring::task<void> yielder(std::uint64_t n, std::uint64_t* done) {
  for (std::uint64_t i = 0; i < n; ++i) {
    co_await couring::yield();
    ++*done;
  }
}

couring::task<void> task_yields(std::size_t tasks, std::uint64_t per_task, std::uint64_t* done) {
  std::vector<couring::task<void>> all;
  for (std::size_t i = 0; i < tasks; ++i) all.push_back(yielder(per_task, done));
  co_await couring::when_all(std::move(all));
}

couring::task<void> fiber_yields(std::size_t fibers, std::uint64_t per_fiber, std::uint64_t* done) {
  std::vector<couring::fiber<void>> all;
  for (std::size_t i = 0; i < fibers; ++i) {
    all.push_back(couring::spawn_fiber([per_fiber, done] {
      for (std::uint64_t k = 0; k < per_fiber; ++k) {
        (void)couring::this_fiber::await(couring::yield());
        ++*done;
      }
    }));
  }
  for (auto& f : all) co_await f;
}

// One runtime for all the runs, so that its start (ring setup, shard thread) is not timed.
timed scheduler_round_trips(bool fibers, std::size_t ready, double seconds) {
  couring::runtime rt(one_shard());
  auto body = [&](std::uint64_t n) {
    std::uint64_t per_unit = std::max<std::uint64_t>(1, n / ready);
    std::uint64_t done = 0;
    if (fibers) rt.run(fiber_yields(ready, per_unit, &done));
    else rt.run(task_yields(ready, per_unit, &done));
    if (done != per_unit * ready) fail("a yield was lost");
  };
  return time_round_trips(body, seconds);
}

// ---- stackful floor: raw Boost.Context ---------------------------------------------------------

void boost_context_round_trips(std::uint64_t n) {
  namespace ctx = boost::context;
  std::uint64_t done = 0;
  ctx::fiber f{[&done](ctx::fiber&& caller) {
    for (;;) {
      ++done;
      caller = std::move(caller).resume();
    }
    return std::move(caller);
  }};
  for (std::uint64_t i = 0; i < n; ++i) f = std::move(f).resume();
  if (done != n) fail("a Boost.Context switch was lost");
  // Destroying `f` unwinds the suspended fiber.
}

// ---- threads on one CPU ------------------------------------------------------------------------

long futex(std::atomic<int>* addr, int op, int value) {
  return ::syscall(SYS_futex, reinterpret_cast<int*>(addr), op, value, nullptr, nullptr, 0);
}

// 0: the main thread's turn, 1: the other's. Each hand-over wakes the other thread and sleeps:
// two context switches per round trip, as for the other cases' two transfers.
void futex_round_trips(std::uint64_t n) {
  std::atomic<int> turn{0};
  std::thread other([&] {
    for (std::uint64_t i = 0; i < n; ++i) {
      while (turn.load(std::memory_order_acquire) != 1) futex(&turn, FUTEX_WAIT_PRIVATE, 0);
      turn.store(0, std::memory_order_release);  // pairs with the main thread's acquire below
      futex(&turn, FUTEX_WAKE_PRIVATE, 1);
    }
  });
  for (std::uint64_t i = 0; i < n; ++i) {
    turn.store(1, std::memory_order_release);  // pairs with the other thread's acquire
    futex(&turn, FUTEX_WAKE_PRIVATE, 1);
    while (turn.load(std::memory_order_acquire) != 0) futex(&turn, FUTEX_WAIT_PRIVATE, 1);
  }
  other.join();
}

void pipe_round_trips(std::uint64_t n) {
  int there[2], back[2];
  if (::pipe(there) != 0 || ::pipe(back) != 0) fail("pipe failed");
  std::thread other([&] {
    char c;
    for (std::uint64_t i = 0; i < n; ++i)
      if (::read(there[0], &c, 1) != 1 || ::write(back[1], &c, 1) != 1) fail("pipe ping-pong broke");
  });
  char c = 'x';
  for (std::uint64_t i = 0; i < n; ++i)
    if (::write(there[1], &c, 1) != 1 || ::read(back[0], &c, 1) != 1) fail("pipe ping-pong broke");
  other.join();
  for (int fd : {there[0], there[1], back[0], back[1]}) ::close(fd);
}

// ---- memory per idle unit ----------------------------------------------------------------------

struct memory_use {
  double resident_per_unit = 0;  // bytes
  double virtual_per_unit = 0;   // bytes
};

struct statm {
  double size = 0, resident = 0;  // bytes
};

statm read_statm() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  in >> size >> resident;
  auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  return {static_cast<double>(size) * page, static_cast<double>(resident) * page};
}

memory_use per_unit(const statm& before, const statm& after, std::size_t units) {
  auto n = static_cast<double>(units);
  return {(after.resident - before.resident) / n, (after.size - before.size) / n};
}

// 100 units are parked before the first reading, so that one-time costs (the frame cache's first
// blocks, the first stacks, a thread's first arena) stay out of the per-unit figure.
constexpr std::size_t warm_units = 100;

couring::task<void> idle_task(couring::async_event& ev, std::size_t* woke) {
  auto r = co_await ev.wait();
  if (r) ++*woke;
}

couring::task<void> settle() {
  for (int i = 0; i < 3; ++i) co_await couring::yield();
}

couring::task<memory_use> idle_tasks(std::size_t count) {
  couring::async_event ev;
  std::size_t woke = 0;
  for (std::size_t i = 0; i < warm_units; ++i) couring::spawn(idle_task(ev, &woke));
  co_await settle();
  statm before = read_statm();
  for (std::size_t i = 0; i < count; ++i) couring::spawn(idle_task(ev, &woke));
  co_await settle();
  statm after = read_statm();
  ev.set();
  co_await settle();
  if (woke != count + warm_units) fail("an idle task did not wake");
  co_return per_unit(before, after, count);
}

couring::task<memory_use> idle_fibers(std::size_t count) {
  couring::async_event ev;
  std::size_t woke = 0;
  auto body = [&ev, &woke] {
    auto r = couring::this_fiber::await(ev.wait());
    if (r) ++woke;
  };
  std::vector<couring::fiber<void>> all;
  all.reserve(count + warm_units);  // reserved up front: no vector growth between the readings
  for (std::size_t i = 0; i < warm_units; ++i) all.push_back(couring::spawn_fiber(body));
  co_await settle();
  statm before = read_statm();
  for (std::size_t i = 0; i < count; ++i) all.push_back(couring::spawn_fiber(body));
  co_await settle();
  statm after = read_statm();
  ev.set();
  for (auto& f : all) co_await f;
  if (woke != count + warm_units) fail("an idle fiber did not wake");
  co_return per_unit(before, after, count);
}

memory_use idle_threads(std::size_t count) {
  std::atomic<int> go{0};
  std::atomic<std::size_t> waiting{0};
  auto idle = [&] {
    waiting.fetch_add(1, std::memory_order_relaxed);  // only counted, nothing published
    while (go.load(std::memory_order_acquire) == 0) futex(&go, FUTEX_WAIT_PRIVATE, 0);
  };
  std::vector<std::thread> threads;
  threads.reserve(count + warm_units);
  auto park = [&](std::size_t n) {
    std::size_t target = threads.size() + n;
    for (std::size_t i = 0; i < n; ++i) threads.emplace_back(idle);
    while (waiting.load(std::memory_order_relaxed) < target) std::this_thread::yield();
  };
  park(warm_units);
  statm before = read_statm();
  park(count);
  statm after = read_statm();
  go.store(1, std::memory_order_release);  // pairs with the idle threads' acquire
  futex(&go, FUTEX_WAKE_PRIVATE, 1 << 30);
  for (auto& t : threads) t.join();
  return per_unit(before, after, count);
}

memory_use idle_memory(const std::string& kind, std::size_t count) {
  if (kind == "thread-futex") return idle_threads(count);
  couring::runtime rt(one_shard());
  if (kind == "task") return rt.run(idle_tasks(count));
  return rt.run(idle_fibers(count));
}

// In a child process forked while this one has no other thread.
memory_use idle_memory_in_child(const std::string& kind, std::size_t count) {
  int p[2];
  if (::pipe(p) != 0) fail("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) fail("fork failed");
  if (pid == 0) {
    ::close(p[0]);
    memory_use m = idle_memory(kind, count);
    if (::write(p[1], &m, sizeof m) != static_cast<ssize_t>(sizeof m)) ::_exit(1);
    ::_exit(0);
  }
  ::close(p[1]);
  memory_use m;
  ssize_t got = ::read(p[0], &m, sizeof m);
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (got != static_cast<ssize_t>(sizeof m) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("the idle-memory child failed");
  return m;
}

timed measure(const std::string& name, std::size_t ready, double seconds) {
  if (name == "coroutine") return time_round_trips(coroutine_round_trips, seconds);
  if (name == "task") return scheduler_round_trips(false, ready, seconds);
  if (name == "fiber") return scheduler_round_trips(true, ready, seconds);
  if (name == "boost-context") return time_round_trips(boost_context_round_trips, seconds);
  if (name == "thread-futex") return time_round_trips(futex_round_trips, seconds);
  if (name == "thread-pipe") return time_round_trips(pipe_round_trips, seconds);
  fail("unknown --case " + name + " (coroutine, task, fiber, boost-context, thread-futex, thread-pipe)");
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "--case coroutine|task|fiber|boost-context|thread-futex|thread-pipe [--ready N] [--seconds S] [--idle N]");
  const std::string name = a.text("case", "");
  const auto ready = static_cast<std::size_t>(a.number("ready", 1));
  const double seconds = a.number("seconds", 0.3);
  const auto idle = static_cast<std::size_t>(a.number("idle", 0));
  if (ready == 0) fail("--ready must be at least 1");
  if (idle > 0 && name != "task" && name != "fiber" && name != "thread-futex")
    fail("--idle is measured for task, fiber and thread-futex only");
  ::setenv("COURING_LOG", "quiet", 0);  // the backend line would precede the JSON line

  bench::report r;
  r.add("case", name).add("ready", std::uint64_t{ready});
  if (idle > 0) {
    memory_use m = idle_memory_in_child(name, idle);  // first: the fork needs a single thread
    r.add("idle_units", std::uint64_t{idle})
        .add("idle_resident_bytes", m.resident_per_unit)
        .add("idle_virtual_bytes", m.virtual_per_unit);
  }
  // Every thread this process makes from here on inherits the CPU.
  pin_this_thread(first_allowed_cpu());
  timed t = measure(name, ready, seconds);
  // `seconds` is CPU time (see process_cpu_seconds); the wall time is reported beside it.
  r.add("ops", t.round_trips)
      .add("seconds", t.cpu_seconds)
      .add("wall_seconds", t.wall_seconds)
      .add("wall_ns_per_round_trip", t.wall_seconds * 1e9 / static_cast<double>(t.round_trips));
  r.print();
}
