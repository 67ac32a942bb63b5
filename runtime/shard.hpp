// shard: one thread's scheduler and backend. Constructed on the thread that will own it (a ring
// has a single issuer), and makes its scheduler and backend that thread's current ones.
#pragma once

#include "io/backend/backend.hpp"

#include <couring/config.hpp>
#include <couring/scheduler.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace couring {

class runtime;
struct backend_options;

namespace emulation {
class worker_pool;
}

class shard {
 public:
  shard(unsigned index, const runtime_config& config, const backend_options& options, emulation::worker_pool& workers,
        const std::vector<scheduler*>* directory, runtime& owner);
  ~shard();
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  scheduler& sched() noexcept { return scheduler_; }
  backend& io() noexcept { return *backend_; }
  const backend& io() const noexcept { return *backend_; }
  const std::string& reason() const noexcept { return reason_; }
  // Any thread: what this shard counted so far.
  backend_stats stats() const noexcept { return backend_->stats(); }

  // The shutdown phases, run by the owner thread (see runtime.cpp).
  void stop_and_drain() noexcept;  // A: no new ops; cancel and await every op in flight
  void destroy_suspended() noexcept;  // B: destroy detached tasks that can never finish
  void finish_shutdown() noexcept;    // C: settle late messages; accept ops again

 private:
  scheduler scheduler_;
  std::unique_ptr<backend> backend_;
  std::string reason_;
  scheduler_scope scope_;
  std::optional<backend_scope> backend_scope_;
  runtime* previous_runtime_;
};

// The runtime whose shard runs on this thread (nullptr elsewhere).
runtime* current_runtime() noexcept;

}  // namespace couring
