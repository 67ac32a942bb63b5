// glibc POSIX AIO peer of the file benchmark, written the way the standard intends: QD aiocbs
// submitted with aio_read, aio_suspend on the whole list, then aio_error/aio_return on each
// finished one and a new aio_read in its place. glibc's defaults are kept (no aio_init), as a
// program that just uses <aio.h> gets them; glibc runs the requests of one fd one at a time.
//
//   aio_file --path FILE --qd N --seconds S [--warmup S] [--direct]
#include "../common/args.hpp"
#include "../common/deadline.hpp"
#include "../common/file_run.hpp"
#include "../common/offsets.hpp"
#include "../common/report.hpp"

#include <aio.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

struct measured {
  std::uint64_t ops;
  double seconds;
};

measured run_phase(int fd, const bench::offset_sequence& offsets, std::uint64_t next, std::byte* buffers,
                   unsigned qd, double seconds) {
  bench::deadline limit(seconds, 8);
  std::vector<aiocb> cbs(qd);
  std::vector<const aiocb*> waiting(qd);  // aio_suspend ignores null entries: finished slots
  std::uint64_t ops = 0;
  auto submit = [&](unsigned slot) {
    aiocb& cb = cbs[slot];
    std::memset(&cb, 0, sizeof cb);
    cb.aio_fildes = fd;
    cb.aio_buf = buffers + std::size_t{slot} * bench::block_size;
    cb.aio_nbytes = bench::block_size;
    cb.aio_offset = offsets.at(next++);
    cb.aio_sigevent.sigev_notify = SIGEV_NONE;
    if (::aio_read(&cb) != 0) {
      std::fprintf(stderr, "aio_read: %s\n", std::strerror(errno));
      std::exit(1);
    }
    waiting[slot] = &cb;
  };
  auto start = bench::steady::now();
  for (unsigned slot = 0; slot < qd; ++slot) submit(slot);
  unsigned in_flight = qd;
  while (in_flight > 0) {
    if (::aio_suspend(waiting.data(), static_cast<int>(qd), nullptr) != 0 && errno != EINTR) {
      std::fprintf(stderr, "aio_suspend: %s\n", std::strerror(errno));
      std::exit(1);
    }
    for (unsigned slot = 0; slot < qd; ++slot) {
      if (!waiting[slot]) continue;
      int e = ::aio_error(&cbs[slot]);
      if (e == EINPROGRESS) continue;
      ssize_t r = ::aio_return(&cbs[slot]);
      bench::check_read(e ? -static_cast<long>(e) : static_cast<long>(r), "glibc aio_read");
      ++ops;
      if (limit.expired_after()) {
        waiting[slot] = nullptr;
        --in_flight;
      } else {
        submit(slot);
      }
    }
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

  (void)run_phase(f.fd, offsets, bench::warmup_base, buffers.get(), qd, warmup);
  measured m = run_phase(f.fd, offsets, 0, buffers.get(), qd, seconds);

  run.result("glibc posix aio", m.ops, m.seconds).print();
}
