#include <couring/runtime.hpp>

#include "io/backend/request_kinds.hpp"
#include "io/emulation/worker_pool.hpp"
#include "io/select_backend.hpp"
#include "shard.hpp"

#include <couring/assert.hpp>
#include <couring/log.hpp>

#include <fmt/core.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <latch>
#include <thread>

namespace couring {
namespace {

// The commands shard 0 sends the other shards: the three shutdown phases, and exit.
enum phase : int { phase_none = 0, phase_stop_and_drain, phase_destroy, phase_finish, phase_exit };

std::vector<int> usable_cpu_list() {
  std::vector<int> cpus;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

unsigned default_pool_threads(unsigned cpus) noexcept { return std::max(16u, 4 * cpus); }

void ignore_sigpipe_if_default() noexcept {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
      !(current.sa_flags & SA_SIGINFO))
    signal(SIGPIPE, SIG_IGN);
}

void pin_to(int cpu) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// What io/ needs of the configuration to choose and set up each shard's backend. The request-kind
// names are checked here, whichever backend is chosen: a typo must not lie in wait for the day
// io_uring becomes available.
backend_options backend_options_from(const runtime_config& c) {
  backend_options o;
  o.choice = c.backend;
  o.sq_entries = c.sq_entries;
  o.cq_entries = c.cq_entries;
  o.sqpoll = c.uring_sqpoll;
  o.sqpoll_idle_ms = c.uring_sqpoll_idle_ms;
  o.sqpoll_cpu = c.uring_sqpoll_cpu;
  o.iopoll = c.uring_iopoll;
  o.msg_ring_wakeups = c.uring_msg_ring_wakeups;
  o.hidden = request_kinds_named(c.uring_hidden_requests, "all", "hide");
  o.restricted = !c.uring_allowed_requests.empty();
  o.allowed = request_kinds_named(c.uring_allowed_requests, "couring", "allow");
  return o;
}

// An exception that ended another shard's loop, on its way to shard 0.
struct fatal_notice : work_item {
  explicit fatal_notice(std::exception_ptr e) noexcept : work_item(&fatal_notice::run), error(std::move(e)) {}
  static void run(work_item& w) noexcept {
    auto* self = static_cast<fatal_notice*>(&w);
    scheduler::current()->set_fatal(std::move(self->error));
    delete self;
  }
  std::exception_ptr error;
};

// The upper bound of the histogram bucket holding quantile q, as text ("8 us", "2 ms").
std::string latency_bound(const std::array<std::uint64_t, latency_buckets>& h, double q) {
  std::uint64_t total = 0;
  for (auto n : h) total += n;
  if (total == 0) return "-";
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < h.size(); ++b) {
    seen += h[b];
    if (static_cast<double>(seen) >= q * static_cast<double>(total)) {
      std::uint64_t us = std::uint64_t{1} << b;
      return us < 1000 ? fmt::format("{} us", us) : fmt::format("{} ms", us / 1000);
    }
  }
  return "inf";
}

}  // namespace

// A shard running on a thread of its own, and the messages shard 0 exchanges with it.
struct runtime::remote_shard {
  struct command : work_item {
    explicit command(remote_shard* s) noexcept : work_item(&command::run), self(s) {}
    static void run(work_item& w) noexcept {
      remote_shard& s = *static_cast<command&>(w).self;
      s.pending = s.requested;
      s.instance->sched().stop_loop();  // the thread's loop performs it between loop runs
    }
    remote_shard* self;
  };
  struct ack : work_item {
    explicit ack(runtime* r) noexcept : work_item(&ack::run), rt(r) {}
    static void run(work_item& w) noexcept {
      runtime& r = *static_cast<ack&>(w).rt;
      if (++r.acks_ == r.remote_.size()) r.phase_done_ = true;
    }
    runtime* rt;
  };

  remote_shard(runtime* r) noexcept : command_item(this), ack_item(r) {}

  void main(unsigned index, runtime& rt, std::latch& started, int cpu) noexcept {
    try {
      if (cpu >= 0) pin_to(cpu);
      shard s(index, rt.config_, *rt.backend_options_, *rt.workers_, &rt.directory_, rt);
      instance = &s;
      started.count_down();
      loop(rt);
      instance = nullptr;
    } catch (...) {
      startup_error = std::current_exception();
      started.count_down();
    }
  }

  void loop(runtime& rt) noexcept {
    scheduler& sched = instance->sched();
    const bool never = false;
    for (;;) {
      sched.run_until(never);
      if (std::exception_ptr e = sched.take_fatal()) rt.sched().post_remote(*new fatal_notice(std::move(e)));
      int p = std::exchange(pending, phase_none);
      switch (p) {
        case phase_stop_and_drain: instance->stop_and_drain(); break;
        case phase_destroy: instance->destroy_suspended(); break;
        case phase_finish: instance->finish_shutdown(); break;
        case phase_exit: return;
        default: continue;
      }
      rt.sched().post_remote(ack_item);
    }
  }

  std::thread thread;
  shard* instance = nullptr;  // lives on the thread's stack while the thread runs
  std::exception_ptr startup_error;
  int requested = phase_none;  // written by shard 0 before it posts command_item
  int pending = phase_none;    // this shard's thread only
  command command_item;
  ack ack_item;
};

runtime::stop_notice::stop_notice(runtime* r) noexcept
    : work_item([](work_item& w) noexcept {
        auto& self = *static_cast<stop_notice&>(w).self;
        self.stop_posted_.store(false, std::memory_order_relaxed);
        self.sched().stop_loop();
      }),
      self(r) {}

namespace {
// The program's log sink and threshold first, so that what starting has to say (a bad environment
// variable, the backend chosen) reaches that sink; then the environment, whose COURING_LOG wins.
runtime_config with_logging_applied(runtime_config config) {
  if (config.log_output) set_log_sink(config.log_output);
  if (config.log_threshold) set_log_threshold(*config.log_threshold);
  runtime_config applied = apply_environment(std::move(config));
  if (applied.log_threshold) set_log_threshold(*applied.log_threshold);
  return applied;
}
}  // namespace

runtime::runtime(runtime_config config)
    : config_(with_logging_applied(std::move(config))),
      backend_options_(std::make_unique<backend_options>(backend_options_from(config_))) {
  if (config_.ignore_sigpipe) ignore_sigpipe_if_default();
  std::vector<int> cpus = usable_cpu_list();
  unsigned count = config_.shards ? config_.shards : static_cast<unsigned>(cpus.size());
  workers_ = std::make_unique<emulation::worker_pool>(
      config_.pool_threads ? config_.pool_threads : default_pool_threads(static_cast<unsigned>(cpus.size())),
      config_.pool_queue_capacity, config_.pool_idle_timeout);
  directory_.assign(count, nullptr);

  if (config_.pin_shards) pin_to(cpus[0]);
  local_ = std::make_unique<shard>(0, config_, *backend_options_, *workers_, &directory_, *this);
  directory_[0] = &local_->sched();

  // The other shards' threads take no process signals: those belong to shard 0's thread (where
  // a signal_set blocks them) or to the program's own threads.
  std::latch started(count - 1);
  // Faults stay unblocked: they are the thread's own, and a blocked one kills the process without
  // running any handler (no fiber stack overflow message, no sanitizer report).
  sigset_t all, previous;
  sigfillset(&all);
  for (int fault : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) sigdelset(&all, fault);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  for (unsigned i = 1; i < count; ++i) {
    auto r = std::make_unique<remote_shard>(this);
    int cpu = config_.pin_shards ? cpus[i % cpus.size()] : -1;
    r->thread = std::thread([this, i, cpu, &started, rs = r.get()] { rs->main(i, *this, started, cpu); });
    remote_.push_back(std::move(r));
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  started.wait();

  std::exception_ptr failure;
  for (unsigned i = 1; i < count; ++i) {
    remote_shard& r = *remote_[i - 1];
    if (r.startup_error) {
      if (!failure) failure = r.startup_error;
    } else {
      directory_[i] = &r.instance->sched();
    }
  }
  if (failure) {
    stop_remote_shards();
    std::rethrow_exception(failure);
  }
}

runtime::~runtime() {
  COURING_ASSERT(sched().on_owner_thread(), "a runtime was destroyed on another thread than the one that made it");
  // Every op has completed, but a worker may still be inside post_remote() for the last one,
  // about to wake that op's shard (which may have seen the op without the wakeup and finished):
  // every backend must outlive every worker, so the workers go first.
  workers_->stop();
  stop_remote_shards();
}

void runtime::stop_remote_shards() noexcept {
  for (auto& r : remote_) {
    if (r->instance) {
      r->requested = phase_exit;
      r->instance->sched().post_remote(r->command_item);
    }
  }
  for (auto& r : remote_) {
    if (r->thread.joinable()) r->thread.join();
  }
  remote_.clear();
}

runtime* runtime::current() noexcept { return current_runtime(); }

scheduler& runtime::sched() noexcept { return local_->sched(); }

void runtime::stop() noexcept {
  // Only the first of concurrent stop() calls posts; the notice is a single embedded item.
  if (!stop_posted_.exchange(true, std::memory_order_acq_rel)) sched().post_remote(stop_notice_);
}

// One shutdown phase on every shard: the others are told to run it, shard 0 runs its own, then
// waits (running its loop, so it keeps serving messages) until every other shard has acked. The
// wait ignores exceptions that arrive meanwhile (they stay recorded for run() to rethrow): leaving
// early would mix up the phases.
void runtime::run_phase(int phase) noexcept {
  acks_ = 0;
  phase_done_ = remote_.empty();
  for (auto& r : remote_) {
    r->requested = phase;  // published by post_remote's seq_cst push
    r->instance->sched().post_remote(r->command_item);
  }
  switch (phase) {
    case phase_stop_and_drain: local_->stop_and_drain(); break;
    case phase_destroy: local_->destroy_suspended(); break;
    case phase_finish: local_->finish_shutdown(); break;
    default: break;
  }
  while (!phase_done_) sched().run_until(phase_done_, /*stop_on_fatal=*/false);
}

void runtime::shutdown() noexcept {
  // A: no shard starts new ops; each cancels its own and awaits every completion, so neither the
  //    kernel nor a worker holds a buffer any more. Shards keep delivering cross-shard replies.
  // B: each shard destroys its detached tasks that can never finish; unfinished cross-shard work
  //    replies "cancelled" to its caller as it is destroyed.
  // C: each shard settles the replies that B produced (they only release shared state).
  run_phase(phase_stop_and_drain);
  run_phase(phase_destroy);
  run_phase(phase_finish);
}

backend_kind runtime::backend() const noexcept { return local_->io().kind(); }
bool runtime::native(std::size_t request_index) const noexcept {
  return request_index < request_kinds && local_->io().native(request_index);
}
const std::string& runtime::backend_reason() const noexcept { return local_->reason(); }

backend_stats runtime::stats(unsigned index) const {
  if (index == 0) return local_->stats();
  if (index >= directory_.size()) throw std::out_of_range("runtime::stats: no such shard");
  return remote_[index - 1]->instance->stats();
}

runtime::loop_info runtime::loop(unsigned index) const {
  if (index >= directory_.size()) throw std::out_of_range("runtime::loop: no such shard");
  const scheduler& s = *directory_[index];
  return {s.ops_in_flight(), s.iterations(), s.remote_wakeups()};
}

runtime::pool_info runtime::pool() const noexcept {
  return {workers_->threads(), workers_->started(), workers_->capacity(), workers_->high_water()};
}

std::string runtime::format_stats() const {
  std::string out = fmt::format("backend {}: {}\n", backend_name(backend()), backend_reason());
  pool_info p = pool();
  out += fmt::format("thread pool: up to {} workers ({} started), queue bound {}, deepest queue {}\n", p.threads,
                     p.started, p.queue_capacity, p.queue_high_water);
  for (unsigned i = 0; i < shards(); ++i) {
    backend_stats s = stats(i);
    loop_info l = loop(i);
    out += fmt::format("shard {}: in flight {}, loop iterations {}, wakeups {}, kernel entries {}, cq overflows {}, "
                       "parked for pool room {}\n",
                       i, s.in_flight, l.iterations, l.wakeups, s.enters, s.cq_overflows, s.pool_parked);
    if (s.polled || s.polled_refused)
      out += fmt::format("  device-polled ops {}, refused by the device or file {}\n", s.polled, s.polled_refused);
    for (std::size_t k = 0; k < request_kinds; ++k) {
      if (s.submitted[k] == 0 && s.completed[k] == 0) continue;
      out += fmt::format("  {:<16} submitted {:>10}  completed {:>10}", request_name(k), s.submitted[k], s.completed[k]);
      if (s.fallbacks[k]) out += fmt::format("  emulated {:>10}", s.fallbacks[k]);
      out += fmt::format("  latency p50 < {}  p99 < {}", latency_bound(s.latency[k], 0.50), latency_bound(s.latency[k], 0.99));
      out += '\n';
    }
  }
  return out;
}

const char* backend_name(backend_kind k) noexcept {
  return k == backend_kind::io_uring ? "io_uring" : "thread_pool";
}

}  // namespace couring
