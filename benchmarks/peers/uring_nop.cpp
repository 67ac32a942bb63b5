// Raw liburing peer of the nop benchmark: prepare N NOPs, submit them and wait for all N in one
// io_uring_enter, reap, repeat. No coroutines, no scheduler: the floor couring is measured against.
// The ring gets the setup couring itself asks for (single issuer, deferred task work, registered
// ring fd), the best a careful hand-written loop would use, so the ratio shows couring's own cost.
//
//   uring_nop --in-flight N --seconds S [--warmup S]
#include "../common/args.hpp"
#include "../common/deadline.hpp"
#include "../common/report.hpp"
#include "ring_setup.hpp"

#include <liburing.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct measured {
  std::uint64_t ops;
  double seconds;
};

measured run_phase(io_uring& ring, unsigned in_flight, double seconds) {
  bench::deadline limit(seconds, in_flight >= 64 ? in_flight : 64);
  std::uint64_t ops = 0;
  auto start = bench::steady::now();
  do {
    for (unsigned i = 0; i < in_flight; ++i) io_uring_prep_nop(io_uring_get_sqe(&ring));
    int r = io_uring_submit_and_wait(&ring, in_flight);
    if (r < 0 && r != -EINTR) {
      std::fprintf(stderr, "io_uring_submit_and_wait: %s\n", std::strerror(-r));
      std::exit(1);
    }
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      if (cqe->res < 0) {
        std::fprintf(stderr, "nop failed: %s\n", std::strerror(-cqe->res));
        std::exit(1);
      }
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
    ops += seen;
    // A wait interrupted by a signal may return early: collect the rest before the next batch.
    while (seen < in_flight) {
      if (io_uring_wait_cqe(&ring, &cqe) != 0) continue;
      io_uring_cqe_seen(&ring, cqe);
      ++seen;
      ++ops;
    }
  } while (!limit.expired_after(in_flight));
  return {ops, bench::seconds_since(start)};
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--in-flight N] [--seconds S] [--warmup S]");
  auto in_flight = static_cast<unsigned>(a.number("in-flight", 32));
  double seconds = a.number("seconds", 0.3);
  double warmup = a.number("warmup", 0.05);
  if (in_flight == 0) in_flight = 1;

  io_uring ring;
  bench::setup_ring(ring, in_flight);
  (void)run_phase(ring, in_flight, warmup);
  measured m = run_phase(ring, in_flight, seconds);
  io_uring_queue_exit(&ring);

  bench::report()
      .add("backend", "raw liburing")
      .add("in_flight", std::uint64_t{in_flight})
      .add("ops", m.ops)
      .add("seconds", m.seconds)
      .print();
}
