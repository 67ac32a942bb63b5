// pool_backend: the thread-pool backend, POSIX-AIO semantics without io_uring. Every op goes to
// the emulation engine: files and other blocking calls to the shared worker pool, pollable fds to
// this shard's epoll (then a non-blocking call on the loop thread), sleeps to the loop's timers.
// One epoll_wait covers all three plus cross-thread wakeups: the seed documents' combined wait.
#pragma once

#include "io/backend/backend.hpp"
#include "io/emulation/engine.hpp"
#include "io/emulation/epoll_readiness.hpp"

#include <couring/unique_fd.hpp>

namespace couring::pool {

class pool_backend final : public backend {
 public:
  pool_backend(scheduler& owner, emulation::worker_pool& workers);
  ~pool_backend() override;

  void submit(op_base& op) noexcept override { engine_.submit(op); }
  void cancel(op_base& op) noexcept override;
  void cancel_all() noexcept override;
  void wait(bool block, std::int64_t deadline_ns) noexcept override;
  void wake() noexcept override;
  backend_kind kind() const noexcept override { return backend_kind::thread_pool; }

 private:
  unique_fd epoll_fd_;
  unique_fd wake_fd_;
  emulation::epoll_readiness readiness_;
  emulation::engine engine_;
};

}  // namespace couring::pool
