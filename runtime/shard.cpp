#include "shard.hpp"

#include "io/select_backend.hpp"

namespace couring {
namespace {
thread_local runtime* this_thread_runtime = nullptr;
}

runtime* current_runtime() noexcept { return this_thread_runtime; }

shard::shard(unsigned index, const runtime_config& config, const backend_options& options,
             emulation::worker_pool& workers, const std::vector<scheduler*>* directory, runtime& owner)
    : scope_(scheduler_), previous_runtime_(this_thread_runtime) {
  backend_selection s = select_backend(scheduler_, workers, options);
  backend_ = std::move(s.chosen);
  reason_ = std::move(s.reason);
  scheduler_.attach(*backend_);
  backend_scope_.emplace(*backend_);
  scheduler_.set_shard(index, directory);
  if (config.on_unhandled_exception) scheduler_.set_unhandled_exception_handler(config.on_unhandled_exception);
  this_thread_runtime = &owner;
}

shard::~shard() {
  // The backend goes first (members die in reverse order): no other thread may still be waking it.
  scheduler_.wait_for_posters();
  backend_scope_.reset();
  this_thread_runtime = previous_runtime_;
}

void shard::stop_and_drain() noexcept {
  scheduler_.set_stopping(true);
  backend_->cancel_all();
  scheduler_.drain();
}

// Queued work runs first (a task spawned a moment ago has only its start queued, and destroying
// it would leave that start dangling); in stopping mode it freezes at its first op.
void shard::destroy_suspended() noexcept {
  do {
    scheduler_.run_pending();
    scheduler_.destroy_detached();
  } while (scheduler_.detached_count() > 0);
}

void shard::finish_shutdown() noexcept {
  // Replies from other shards' destroyed work may still arrive; they only release shared state.
  destroy_suspended();
  scheduler_.set_stopping(false);
}

}  // namespace couring
