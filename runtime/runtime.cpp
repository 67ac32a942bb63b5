#include <couring/runtime.hpp>

#include "io/pool/worker_pool.hpp"
#include "io/select_backend.hpp"

#include <fmt/core.h>

#include <sched.h>
#include <signal.h>

#include <algorithm>

namespace couring {
namespace {

unsigned usable_cpus() noexcept {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return 1;
}

unsigned default_pool_threads() noexcept { return std::max(16u, 4 * usable_cpus()); }

void ignore_sigpipe_if_default() noexcept {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
      !(current.sa_flags & SA_SIGINFO))
    signal(SIGPIPE, SIG_IGN);
}

}  // namespace

runtime::stop_notice::stop_notice(runtime* r) noexcept
    : work_item([](work_item& w) noexcept {
        auto& self = *static_cast<stop_notice&>(w).self;
        self.stop_posted_.store(false, std::memory_order_relaxed);
        self.scheduler_.stop_loop();
      }),
      self(r) {}

runtime::runtime(runtime_config config) : config_(apply_environment(std::move(config))), scope_(scheduler_) {
  if (config_.ignore_sigpipe) ignore_sigpipe_if_default();
  workers_ = std::make_unique<pool::worker_pool>(config_.pool_threads ? config_.pool_threads : default_pool_threads(),
                                                 config_.pool_queue_capacity);
  backend_selection s = select_backend(scheduler_, *workers_, config_);
  backend_ = std::move(s.chosen);
  reason_ = std::move(s.reason);
  scheduler_.attach(*backend_);
  if (config_.on_unhandled_exception) scheduler_.set_unhandled_exception_handler(config_.on_unhandled_exception);
}

runtime::~runtime() {
  // A worker whose completion the loop has already run may still be waking the backend (its
  // post_remote() pushes first, then writes the backend's wakeup fd): join the workers before the
  // backend and that fd go. The pool object itself stays until the backend no longer needs it.
  workers_->stop();
}

void runtime::stop() noexcept {
  // Only the first of concurrent stop() calls posts; the notice is a single embedded item.
  if (!stop_posted_.exchange(true, std::memory_order_acq_rel)) scheduler_.post_remote(stop_notice_);
}

void runtime::drive_until_done(const bool& done) { scheduler_.run_until(done); }

void runtime::shutdown() noexcept {
  // 1. No new op starts; 2. every op in flight is asked to stop; 3. their completions are
  // awaited (the kernel and the workers are then done with every buffer); 4. what is still
  // suspended can never be resumed and is destroyed, closing the fds its frames own.
  scheduler_.set_stopping(true);
  backend_->cancel_all();
  scheduler_.drain();
  scheduler_.destroy_detached();
  scheduler_.set_stopping(false);
}

runtime::pool_info runtime::pool() const noexcept {
  return {workers_->threads(), workers_->capacity(), workers_->high_water()};
}

std::string runtime::format_stats() const {
  const backend_stats& s = stats();
  std::string out = fmt::format("backend {}: {}\n", backend_name(backend()), reason_);
  out += fmt::format("  kernel entries {}, cq overflows {}, parked for pool room {}\n", s.enters, s.cq_overflows,
                     s.pool_parked);
  for (std::size_t k = 0; k < request_kinds; ++k) {
    if (s.submitted[k] == 0) continue;
    out += fmt::format("  {:<10} submitted {:>10}", request_name(k), s.submitted[k]);
    if (s.fallbacks[k]) out += fmt::format("  emulated {:>10}", s.fallbacks[k]);
    out += '\n';
  }
  return out;
}

const char* backend_name(backend_kind k) noexcept {
  return k == backend_kind::io_uring ? "io_uring" : "thread_pool";
}

}  // namespace couring
