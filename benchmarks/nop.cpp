// nop: `co_await nop()` throughput with N coroutines in flight. Each coroutine awaits NOPs in a
// loop; with N in flight one loop iteration resumes N coroutines, which submit N new SQEs that
// reach the kernel in one io_uring_enter: the same batch the raw liburing peer
// (peers/uring_nop.cpp) prepares by hand.
//
//   nop --backend io_uring|thread_pool --in-flight N --seconds S [--warmup S]
#include "common/args.hpp"
#include "common/backend_option.hpp"
#include "common/countdown.hpp"
#include "common/deadline.hpp"
#include "common/report.hpp"

#include <couring/ops.hpp>
#include <couring/runtime.hpp>
#include <couring/spawn.hpp>
#include <couring/task.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

struct phase {
  bench::deadline limit;
  std::uint64_t ops = 0;
  bench::countdown running;
};

couring::task<void> nop_loop(phase& p) {
  do {
    couring::result<void> r = co_await couring::nop();
    if (!r) {
      std::fprintf(stderr, "nop failed: %s\n", r.error().message().c_str());
      std::exit(1);
    }
    ++p.ops;
  } while (!p.limit.expired_after());
  p.running.arrive();
}

struct measured {
  std::uint64_t ops;
  double seconds;
  std::uint64_t enters;
};

couring::task<measured> run_phase(couring::runtime& rt, unsigned in_flight, double seconds) {
  // The clock is read as often as the raw peer reads it: once per max(64, in flight) ops.
  phase p{bench::deadline(seconds, in_flight >= 64 ? in_flight : 64), 0, {}};
  p.running.reset(in_flight);
  std::uint64_t enters_before = rt.stats().enters;
  auto start = bench::steady::now();
  for (unsigned i = 0; i < in_flight; ++i) couring::spawn(nop_loop(p));
  co_await p.running.wait();
  co_return measured{p.ops, bench::seconds_since(start), rt.stats().enters - enters_before};
}

couring::task<measured> benchmark(couring::runtime& rt, unsigned in_flight, double warmup, double seconds) {
  (void)co_await run_phase(rt, in_flight, warmup);
  co_return co_await run_phase(rt, in_flight, seconds);
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--backend io_uring|thread_pool] [--in-flight N] [--seconds S] [--warmup S]");
  auto in_flight = static_cast<unsigned>(a.number("in-flight", 32));
  double seconds = a.number("seconds", 0.3);
  double warmup = a.number("warmup", 0.05);
  if (in_flight == 0) in_flight = 1;

  couring::runtime rt(bench::config_from(a));
  measured m = rt.run(benchmark(rt, in_flight, warmup, seconds));

  bench::report()
      .add("backend", couring::backend_name(rt.backend()))
      .add("in_flight", std::uint64_t{in_flight})
      .add("ops", m.ops)
      .add("seconds", m.seconds)
      .add("enters_per_op", static_cast<double>(m.enters) / static_cast<double>(m.ops))
      .print();
}
