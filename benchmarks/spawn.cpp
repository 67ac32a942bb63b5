// spawn: steady-state spawning of short tasks. A parent spawns a batch of B children, waits until
// they have all finished, and repeats. Reports tasks/s and, per task, how many coroutine frames
// came fresh from the heap (couring's frame_stats) and how many global operator new calls
// happened at all (counted by replacing operator new in this program): with frame recycling both
// are ~0 once the first batch has warmed the per-thread free lists.
//
//   spawn --backend io_uring|thread_pool --batch B --seconds S [--warmup S]
#include "common/args.hpp"
#include "common/backend_option.hpp"
#include "common/countdown.hpp"
#include "common/deadline.hpp"
#include "common/report.hpp"

#include <couring/detail/frame_allocator.hpp>
#include <couring/runtime.hpp>
#include <couring/spawn.hpp>
#include <couring/task.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace {
// Relaxed is enough: the count is read on the loop thread after the allocations it must see,
// which happened on that same thread (worker threads allocate nothing while they idle).
std::atomic<std::uint64_t> heap_allocations{0};
}  // namespace

// Sanitizer runtimes own operator new; under them only the frame statistics are reported.
#if !BENCH_SANITIZED
void* operator new(std::size_t size) {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

struct phase {
  bench::deadline limit;
  std::uint64_t tasks = 0;
  bench::countdown batch_done;
};

// The smallest useful task: it records that it ran and tells the parent.
couring::task<void> child(phase& p) {
  ++p.tasks;
  p.batch_done.arrive();
  co_return;
}

struct measured {
  std::uint64_t tasks;
  double seconds;
  std::uint64_t fresh_frames;
  std::uint64_t heap_allocations;
};

couring::task<measured> run_phase(unsigned batch, double seconds) {
  phase p{bench::deadline(seconds, 1), 0, {}};
  auto frames_before = couring::detail::frame_stats().fresh_allocations;
  auto heap_before = heap_allocations.load(std::memory_order_relaxed);
  auto start = bench::steady::now();
  do {
    p.batch_done.reset(batch);
    for (unsigned i = 0; i < batch; ++i) couring::spawn(child(p));
    co_await p.batch_done.wait();
  } while (!p.limit.expired_after());
  double elapsed = bench::seconds_since(start);
  co_return measured{p.tasks, elapsed, couring::detail::frame_stats().fresh_allocations - frames_before,
                     heap_allocations.load(std::memory_order_relaxed) - heap_before};
}

couring::task<measured> benchmark(unsigned batch, double warmup, double seconds) {
  (void)co_await run_phase(batch, warmup);
  co_return co_await run_phase(batch, seconds);
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--backend io_uring|thread_pool] [--batch B] [--seconds S] [--warmup S]");
  auto batch = static_cast<unsigned>(a.number("batch", 32));
  double seconds = a.number("seconds", 0.3);
  double warmup = a.number("warmup", 0.05);
  if (batch == 0) batch = 1;

  couring::runtime rt(bench::config_from(a));
  measured m = rt.run(benchmark(batch, warmup, seconds));

  auto per_task = [&m](std::uint64_t n) { return static_cast<double>(n) / static_cast<double>(m.tasks); };
  bench::report r;
  r.add("backend", couring::backend_name(rt.backend()))
      .add("batch", std::uint64_t{batch})
      .add("ops", m.tasks)
      .add("seconds", m.seconds)
      .add("fresh_frames_per_task", per_task(m.fresh_frames));
  if (!BENCH_SANITIZED) r.add("heap_allocs_per_task", per_task(m.heap_allocations));
  r.print();
}
