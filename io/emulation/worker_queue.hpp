// worker_queue: one shard's door to the shared worker pool. It keeps the back-pressure promise:
// when the pool's queue is full, ops wait here (linked through their own emulation state, so
// waiting costs no memory) and move on, in order, as workers make room.
#pragma once

#include "emulated_op.hpp"
#include "worker_pool.hpp"

#include <couring/op.hpp>
#include <couring/scheduler.hpp>

#include <cstddef>
#include <vector>

namespace couring::emulation {

class worker_queue {
 public:
  worker_queue(scheduler& owner, worker_pool& workers) noexcept;
  ~worker_queue();
  worker_queue(const worker_queue&) = delete;
  worker_queue& operator=(const worker_queue&) = delete;

  // Queues the op for a worker, or parks it while the queue is full. Returns true if it parked.
  bool submit(op_base& op) noexcept;

  // POSIX-AIO cancel: true if the op was still waiting (parked or queued) and will never run;
  // the caller then completes it. False if a worker runs it or has finished it.
  bool cancel(op_base& op) noexcept;

  // Dequeues every op of this shard that has not started and calls `fn(op)` for each; asks the
  // running ones to stop (interruptible calls are interrupted; the others finish).
  template <class Fn>
  void cancel_all(Fn&& fn);

  std::size_t parked() const noexcept { return parked_count_; }

 private:
  struct space_notice : work_item {
    explicit space_notice(worker_queue* q) noexcept : work_item(&space_notice::run), self(q) {}
    static void run(work_item& w) noexcept;
    worker_queue* self;
  };

  static void cancel_again(work_item& w) noexcept;
  void park_back(op_base& op) noexcept;
  void park_front(op_base& op) noexcept;
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
void worker_queue::cancel_all(Fn&& fn) {
  while (op_base* op = parked_head_) {
    unpark(*op);
    fn(*op);
  }
  workers_.dequeue_all_of(owner_, [&fn](op_base& op) { fn(op); });
  std::vector<op_base*> running;
  try {
    running = workers_.running_of(owner_);
  } catch (...) {
    return;  // without the list they finish on their own: shutdown waits for them
  }
  for (op_base* op : running) cancel(*op);
}

}  // namespace couring::emulation
