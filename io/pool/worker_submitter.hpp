// worker_submitter: one shard's door to the shared worker pool. It keeps the back-pressure
// promise: when the pool's queue is full, ops wait here (linked through their own fields, so
// waiting costs no memory) and move on, in order, as workers make room. Used by the thread-pool
// backend for every blocking op and by the io_uring backend for opcodes the kernel lacks.
#pragma once

#include "worker_pool.hpp"

#include <couring/op.hpp>

#include <cstdint>

namespace couring::pool {

class worker_submitter {
 public:
  worker_submitter(scheduler& owner, worker_pool& workers) noexcept;
  ~worker_submitter();
  worker_submitter(const worker_submitter&) = delete;
  worker_submitter& operator=(const worker_submitter&) = delete;

  // Queues the op for a worker, or parks it while the queue is full. Returns true if it parked.
  bool submit(op_base& op) noexcept;

  // POSIX-AIO cancel: true if the op was still waiting (parked or queued) and will never run;
  // the caller then completes it. False if a worker runs it or has finished it.
  bool cancel(op_base& op) noexcept;

  // Dequeues every op of this shard that has not started and calls `fn(op)` for each; interrupts
  // the running ones that can be (a waiting lock, a recv with MSG_WAITALL), which then complete
  // through the normal path.
  template <class Fn>
  void cancel_all(Fn&& fn);

  bool owns(const op_base& op) const noexcept { return op.backend_route == at_workers || op.backend_route == at_parked; }
  std::size_t parked() const noexcept { return parked_count_; }

  // Routes this submitter reserves in op_base::backend_route; backends use values below.
  static constexpr std::uint8_t at_workers = 0x40;
  static constexpr std::uint8_t at_parked = 0x41;

 private:
  struct space_notice : work_item {
    explicit space_notice(worker_submitter* s) noexcept : work_item(&space_notice::run), self(s) {}
    static void run(work_item& w) noexcept;
    worker_submitter* self;
  };

  static void cancel_again(work_item& w) noexcept;
  void park_back(op_base& op) noexcept;
  void unpark(op_base& op) noexcept;
  void request_space() noexcept;
  void retry_parked() noexcept;

  scheduler& owner_;
  worker_pool& workers_;
  op_base* parked_head_ = nullptr;
  op_base* parked_tail_ = nullptr;
  std::size_t parked_count_ = 0;
  space_notice notice_;
  bool space_requested_ = false;
};

template <class Fn>
void worker_submitter::cancel_all(Fn&& fn) {
  while (op_base* op = parked_head_) {
    unpark(*op);
    fn(*op);
  }
  workers_.dequeue_all_of(owner_, [&fn](op_base& op) { fn(op); });
  // Without this a lock that is never granted would keep shutdown's drain waiting forever.
  for (op_base* op : workers_.running_interruptible_of(owner_)) {
    if (op->cancel == cancel_reason::none) op->cancel = cancel_reason::requested;
    cancel(*op);
  }
}

}  // namespace couring::pool
