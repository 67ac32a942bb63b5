// Plain pread peer of the file benchmark: QD threads, each issuing blocking preads in a loop
// (QD 1 is the simplest possible program: one thread, one pread after another). The threads
// draw offsets from one shared counter, so together they read the same blocks as everyone else.
//
//   pread_file --path FILE --qd N --seconds S [--warmup S] [--direct]
#include "../common/args.hpp"
#include "../common/deadline.hpp"
#include "../common/file_run.hpp"
#include "../common/offsets.hpp"
#include "../common/report.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

struct measured {
  std::uint64_t ops;
  double seconds;
};

measured run_phase(int fd, const bench::offset_sequence& offsets, std::uint64_t first, std::byte* buffers,
                   unsigned qd, double seconds) {
  // Relaxed: the counter only hands out distinct indexes; no other data is published through it.
  std::atomic<std::uint64_t> next{first};
  std::atomic<std::uint64_t> total{0};
  auto start = bench::steady::now();
  auto body = [&](unsigned slot) {
    bench::deadline limit(seconds, 8);
    std::byte* buf = buffers + std::size_t{slot} * bench::block_size;
    std::uint64_t ops = 0;
    do {
      std::int64_t offset = offsets.at(next.fetch_add(1, std::memory_order_relaxed));
      ssize_t r = ::pread(fd, buf, bench::block_size, offset);
      bench::check_read(r < 0 ? -static_cast<long>(errno) : static_cast<long>(r), "pread");
      ++ops;
    } while (!limit.expired_after());
    total.fetch_add(ops, std::memory_order_relaxed);  // read after join(), which synchronises
  };
  if (qd == 1) {
    body(0);
  } else {
    std::vector<std::thread> threads;
    threads.reserve(qd);
    for (unsigned i = 0; i < qd; ++i) threads.emplace_back(body, i);
    for (auto& t : threads) t.join();
  }
  return {total.load(std::memory_order_relaxed), bench::seconds_since(start)};
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

  (void)run_phase(f.fd, offsets, bench::warmup_base, buffers.get(), qd, warmup);
  measured m = run_phase(f.fd, offsets, 0, buffers.get(), qd, seconds);

  run.result("pread", m.ops, m.seconds).print();
}
