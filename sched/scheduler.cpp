#include <couring/assert.hpp>
#include <couring/scheduler.hpp>

#include "event_source.hpp"
#include "remote_queue.hpp"
#include "sched/base/log.hpp"

#include <fmt/core.h>

#include <exception>
#include <stdexcept>
#include <thread>
#include <typeinfo>

namespace couring {
namespace {

// initial-exec: read on every op submission, and the default model in a shared library costs a
// __tls_get_addr call each time; one pointer of static TLS is within glibc's reserve even when
// the library is dlopen()ed.
[[gnu::tls_model("initial-exec")]] thread_local scheduler* current_scheduler = nullptr;

// Logs and rethrows, so that run() ends with the first escaped exception instead of losing it.
void default_unhandled(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    detail::log_error(fmt::format("exception escaped a detached task: {} ({})", ex.what(), typeid(ex).name()));
  } catch (...) {
    detail::log_error("a non-std exception escaped a detached task");
  }
  std::rethrow_exception(e);
}

}  // namespace

scheduler::scheduler() noexcept = default;

scheduler::~scheduler() = default;

scheduler* scheduler::current() noexcept { return current_scheduler; }

std::size_t scheduler::ops_in_flight() const noexcept { return events_ ? events_->pending() : 0; }

scheduler_scope::scheduler_scope(scheduler& s) noexcept : previous_(current_scheduler) { current_scheduler = &s; }
scheduler_scope::~scheduler_scope() { current_scheduler = previous_; }

void scheduler::post_remote(work_item& w) noexcept {
  // Relaxed: the push's seq_cst CAS publishes it to the owner's acquiring drain, so an owner that
  // ran `w` sees this poster counted (wait_for_posters).
  posters_.fetch_add(1, std::memory_order_relaxed);
  remote_queue::push(remote_, w);
  // Only the producer that flips the flag pays for the wakeup syscall: a burst costs one.
  if (sleeping_.load(std::memory_order_seq_cst) && sleeping_.exchange(false, std::memory_order_seq_cst)) {
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    // From another shard, that shard's backend may have a cheaper wakeup (MSG_RING).
    scheduler* from = current();
    if (!(from && from != this && from->events_->wake_other(*events_))) events_->wake();
  }
  posters_.fetch_sub(1, std::memory_order_release);  // pairs with wait_for_posters()'s acquire
}

void scheduler::wait_for_posters() const noexcept {
  // A poster is at most a wakeup syscall away from leaving: spinning politely is enough.
  while (posters_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void scheduler::run_ready() noexcept {
  loop_now_ns_ = monotonic_now_ns();
  // Run what is ready now, not what these items make ready: their new submissions reach the
  // kernel in the next wait, so one iteration batches them into one io_uring_enter.
  work_queue batch;
  batch.splice(ready_);
  while (work_item* w = batch.pop()) w->run(*w);
}

void scheduler::wait_for_events() {
  bool block = ready_.empty();
  if (block) {
    sleeping_.store(true, std::memory_order_seq_cst);
    if (!remote_queue::empty(remote_)) block = false;  // a producer may have pushed before seeing the flag
  }
  // The one wait covers completions, readiness, wakeups and the earliest timer.
  std::int64_t deadline = block && !timers_.empty() ? timers_.next_deadline() : -1;
  events_->wait(block, deadline);
  sleeping_.store(false, std::memory_order_relaxed);
  remote_queue::drain_into(remote_, ready_);
  if (!timers_.empty()) timers_.run_expired(monotonic_now_ns());
}

void scheduler::run_until(const bool& done, bool stop_on_fatal) {
  COURING_ASSERT(on_owner_thread(), "run_until() on a thread where the scheduler is not current");
  remote_queue::drain_into(remote_, ready_);
  loop_stop_ = false;
  auto finished = [&] { return done || loop_stop_ || (stop_on_fatal && fatal_); };
  while (!finished()) {
    iterations_.store(iterations_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    run_ready();
    if (finished()) break;
    wait_for_events();
  }
}

void scheduler::drain() {
  COURING_ASSERT(on_owner_thread(), "drain() on a thread where the scheduler is not current");
  remote_queue::drain_into(remote_, ready_);
  while (events_->pending() > 0 || !ready_.empty()) {
    iterations_.store(iterations_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    run_ready();
    if (events_->pending() == 0 && ready_.empty()) break;
    wait_for_events();
  }
}

void scheduler::run_pending() {
  COURING_ASSERT(on_owner_thread(), "run_pending() on a thread where the scheduler is not current");
  for (;;) {
    remote_queue::drain_into(remote_, ready_);
    if (ready_.empty()) return;
    run_ready();
  }
}

void scheduler::add_detached(detail::detached_node& n) noexcept {
  n.prev = nullptr;
  n.next = detached_;
  if (detached_) detached_->prev = &n;
  detached_ = &n;
  ++detached_count_;
}

void scheduler::remove_detached(detail::detached_node& n) noexcept {
  if (n.prev) n.prev->next = n.next; else detached_ = n.next;
  if (n.next) n.next->prev = n.prev;
  --detached_count_;
}

void scheduler::destroy_detached() noexcept {
  // Each destroy unlinks its node; a destroyed frame's locals may not spawn (no loop runs here).
  while (detached_) detached_->destroy(*detached_);
}

void scheduler::set_unhandled_exception_handler(unhandled_exception_handler h) { on_unhandled_ = std::move(h); }

void scheduler::report_unhandled(std::exception_ptr e) noexcept {
  try {
    if (on_unhandled_) on_unhandled_(e); else default_unhandled(e);
  } catch (...) {
    if (!fatal_) fatal_ = std::current_exception();
  }
}

}  // namespace couring
