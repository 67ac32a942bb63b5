// file: 4 KiB random reads from one file with QD coroutines, each awaiting read_at in a loop.
// Offsets come from the shared fixed-seed sequence (common/offsets.hpp), in issue order, so every
// system reads the same blocks. --direct opens the file with O_DIRECT.
//
//   file --backend io_uring|thread_pool --path FILE --qd N --seconds S [--warmup S] [--direct]
#include "common/args.hpp"
#include "common/backend_option.hpp"
#include "common/countdown.hpp"
#include "common/deadline.hpp"
#include "common/file_run.hpp"
#include "common/offsets.hpp"
#include "common/report.hpp"

#include <couring/ops.hpp>
#include <couring/runtime.hpp>
#include <couring/spawn.hpp>
#include <couring/task.hpp>

#include <cstdint>

namespace {

struct phase {
  int fd;
  const bench::offset_sequence& offsets;
  std::uint64_t next;
  bench::deadline limit;
  std::uint64_t ops = 0;
  bench::countdown running;
};

couring::task<void> reader(phase& p, std::byte* buf) {
  do {
    std::int64_t offset = p.offsets.at(p.next++);
    couring::result<std::size_t> r = co_await couring::read_at(p.fd, couring::buffer(buf, bench::block_size), offset);
    bench::check_read(r ? static_cast<long>(*r) : -static_cast<long>(r.error().value()), "couring read_at");
    ++p.ops;
  } while (!p.limit.expired_after());
  p.running.arrive();
}

struct measured {
  std::uint64_t ops;
  double seconds;
  std::uint64_t enters;
};

couring::task<measured> run_phase(couring::runtime& rt, const bench::test_file& f, const bench::offset_sequence& offsets,
                                  std::uint64_t first, std::byte* buffers, unsigned qd, double seconds) {
  // Slow (O_DIRECT) runs check the clock more often so they end close to their budget.
  phase p{f.fd, offsets, first, bench::deadline(seconds, 8), 0, {}};
  p.running.reset(qd);
  std::uint64_t enters_before = rt.stats().enters;
  auto start = bench::steady::now();
  for (unsigned i = 0; i < qd; ++i) couring::spawn(reader(p, buffers + std::size_t{i} * bench::block_size));
  co_await p.running.wait();
  co_return measured{p.ops, bench::seconds_since(start), rt.stats().enters - enters_before};
}

couring::task<measured> benchmark(couring::runtime& rt, const bench::test_file& f, unsigned qd, double warmup,
                                  double seconds) {
  bench::offset_sequence offsets(f.size);
  bench::aligned_bytes buffers = bench::make_buffers(qd);
  (void)co_await run_phase(rt, f, offsets, bench::warmup_base, buffers.get(), qd, warmup);
  co_return co_await run_phase(rt, f, offsets, 0, buffers.get(), qd, seconds);
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--backend io_uring|thread_pool] [--path FILE] [--qd N] [--seconds S] [--warmup S] [--direct]");
  bench::file_run run(a);
  const unsigned qd = run.qd;
  bench::test_file& f = run.file;
  const double seconds = run.seconds, warmup = run.warmup;

  couring::runtime rt(bench::config_from(a));
  measured m = rt.run(benchmark(rt, f, qd, warmup, seconds));

  run.result(couring::backend_name(rt.backend()), m.ops, m.seconds)
      .add("enters_per_op", static_cast<double>(m.enters) / static_cast<double>(m.ops))
      .print();
}
