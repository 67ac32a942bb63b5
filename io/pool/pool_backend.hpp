// pool_backend: the thread-pool backend, POSIX-AIO semantics without io_uring. Files and other
// blocking calls go to the shared worker pool; pollable fds wait on this shard's epoll and are
// then served by a non-blocking call on the loop thread; timeouts are timers of the loop.
// One epoll_wait covers all three plus cross-thread wakeups: the seed documents' combined wait.
#pragma once

#include "readiness.hpp"
#include "worker_submitter.hpp"

#include <couring/backend.hpp>
#include <couring/unique_fd.hpp>

namespace couring::pool {

class pool_backend final : public backend {
 public:
  pool_backend(scheduler& owner, worker_pool& workers);
  ~pool_backend() override;

  void submit(op_base& op) noexcept override;
  void cancel(op_base& op) noexcept override;
  void cancel_all() noexcept override;
  void wait(bool block, std::int64_t deadline_ns) noexcept override;
  void wake() noexcept override;
  backend_kind kind() const noexcept override { return backend_kind::thread_pool; }

 private:
  void to_workers(op_base& op) noexcept;
  void start_sleep(op_base& op) noexcept;
  void arm_deadline(op_base& op) noexcept;
  void cancel_op(op_base& op) noexcept;
  static void sleep_fired(work_item& w) noexcept;
  void link_sleeper(op_base& op) noexcept;
  void unlink_sleeper(op_base& op) noexcept;

  scheduler& owner_;
  unique_fd epoll_fd_;
  unique_fd wake_fd_;
  readiness readiness_;
  worker_submitter workers_;
  // Sleeps armed on the loop's timers, linked through link_prev/link_next so cancel_all finds them.
  op_base* sleeping_ = nullptr;
};

}  // namespace couring::pool
