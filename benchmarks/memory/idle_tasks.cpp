// idle_tasks: resident bytes per idle task (coroutine) and per idle fiber, each parked on an
// async_event, as a connection's handler is parked on its socket.
//
//   idle_tasks --kind task|fiber --count N [--backend io_uring|thread_pool]
//
// Measures this process's VmRSS before spawning and once every one of them is waiting, then
// releases them and waits until all have finished (so none is leaked by the measurement).
// Fibers get the default fiber_options (64 KiB of stack, of which only touched pages are resident).
#include "../common/args.hpp"
#include "../common/backend_option.hpp"
#include "../common/countdown.hpp"
#include "../common/proc_stat.hpp"
#include "../common/report.hpp"

#include <couring/async_event.hpp>
#include <couring/fiber.hpp>
#include <couring/runtime.hpp>
#include <couring/spawn.hpp>
#include <couring/task.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace {

struct parked {
  couring::async_event go;
  bench::countdown started;
  bench::countdown finished;
};

couring::task<void> idle_task(parked& p) {
  p.started.arrive();
  (void)co_await p.go.wait();
  p.finished.arrive();
}

void idle_fiber(parked& p) {
  p.started.arrive();
  (void)couring::this_fiber::await(p.go.wait());
  p.finished.arrive();
}

couring::task<double> measure(bool fibers, unsigned count) {
  parked p;
  p.started.reset(count);
  p.finished.reset(count);
  long long before = bench::resident_bytes(::getpid());
  for (unsigned i = 0; i < count; ++i) {
    if (fibers) {
      (void)couring::spawn_fiber([&p] { idle_fiber(p); });  // detached: `finished` tells when it is done
    } else {
      couring::spawn(idle_task(p));
    }
  }
  co_await p.started.wait();
  long long after = bench::resident_bytes(::getpid());
  p.go.set();
  co_await p.finished.wait();
  co_return static_cast<double>(after - before) / count;
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--kind task|fiber] [--count N] [--backend io_uring|thread_pool]");
  std::string kind = a.text("kind", "task");
  auto count = static_cast<unsigned>(a.number("count", 100000));
  if ((kind != "task" && kind != "fiber") || count == 0) {
    std::fprintf(stderr, "idle_tasks: --kind task|fiber and a positive --count\n");
    return 2;
  }
  couring::runtime_config config = bench::config_from(a);
  config.shards = 1;
  couring::runtime rt(config);
  double per = rt.run(measure(kind == "fiber", count));
  bench::report()
      .add("backend", couring::backend_name(rt.backend()))
      .add("ops", std::uint64_t{count})
      .add("seconds", 1.0)
      .add("bytes_per_item", per)
      .print();
}
