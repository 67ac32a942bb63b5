// Raw liburing peer of the file benchmark: QD reads in flight; each loop submits the refills
// prepared since the last enter and waits for at least one completion, then reaps every CQE and
// prepares a replacement read for each. The same ring setup as couring (ring_setup.hpp).
//
//   uring_file --path FILE --qd N --seconds S [--warmup S] [--direct]
#include "../common/args.hpp"
#include "../common/deadline.hpp"
#include "../common/file_run.hpp"
#include "../common/offsets.hpp"
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

measured run_phase(io_uring& ring, int fd, const bench::offset_sequence& offsets, std::uint64_t next,
                   std::byte* buffers, unsigned qd, double seconds) {
  bench::deadline limit(seconds, 8);
  std::uint64_t ops = 0;
  auto prep = [&](unsigned slot) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, fd, buffers + std::size_t{slot} * bench::block_size, bench::block_size,
                       static_cast<__u64>(offsets.at(next++)));
    io_uring_sqe_set_data64(sqe, slot);
  };
  auto start = bench::steady::now();
  for (unsigned slot = 0; slot < qd; ++slot) prep(slot);
  unsigned in_flight = qd;
  while (in_flight > 0) {
    int r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR) {
      std::fprintf(stderr, "io_uring_submit_and_wait: %s\n", std::strerror(-r));
      std::exit(1);
    }
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      bench::check_read(cqe->res, "raw liburing read");
      ++seen;
      ++ops;
      if (limit.expired_after()) {
        --in_flight;
      } else {
        prep(static_cast<unsigned>(cqe->user_data));
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
  return {ops, bench::seconds_since(start)};
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--path FILE] [--qd N] [--seconds S] [--warmup S] [--direct]");
  bench::file_run run(a);
  const unsigned qd = run.qd;
  bench::test_file& f = run.file;
  const double seconds = run.seconds, warmup = run.warmup;
  bench::offset_sequence offsets(f.size);
  bench::aligned_bytes buffers = bench::make_buffers(qd);

  io_uring ring;
  bench::setup_ring(ring, qd);
  (void)run_phase(ring, f.fd, offsets, bench::warmup_base, buffers.get(), qd, warmup);
  measured m = run_phase(ring, f.fd, offsets, 0, buffers.get(), qd, seconds);
  io_uring_queue_exit(&ring);

  run.result("raw liburing", m.ops, m.seconds).print();
}
