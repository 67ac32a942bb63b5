#include "worker_submitter.hpp"

#include <couring/backend.hpp>

namespace couring::pool {

worker_submitter::worker_submitter(scheduler& owner, worker_pool& workers) noexcept
    : owner_(owner), workers_(workers), notice_(this) {}

worker_submitter::~worker_submitter() {
  // The pool must not post our notice after we are gone.
  if (space_requested_) workers_.forget_space_request(notice_);
}

bool worker_submitter::submit(op_base& op) noexcept {
  // Keep FIFO order behind ops already waiting for room.
  if (parked_head_ == nullptr && workers_.try_enqueue(op)) {
    op.backend_route = at_workers;
    return false;
  }
  park_back(op);
  request_space();
  return true;
}

void worker_submitter::park_back(op_base& op) noexcept {
  op.backend_route = at_parked;
  op.link_next = nullptr;
  op.link_prev = parked_tail_;
  if (parked_tail_) parked_tail_->link_next = &op; else parked_head_ = &op;
  parked_tail_ = &op;
  ++parked_count_;
}

void worker_submitter::park_front(op_base& op) noexcept {
  op.backend_route = at_parked;
  op.link_prev = nullptr;
  op.link_next = parked_head_;
  if (parked_head_) parked_head_->link_prev = &op; else parked_tail_ = &op;
  parked_head_ = &op;
  ++parked_count_;
}

void worker_submitter::unpark(op_base& op) noexcept {
  if (op.link_prev) op.link_prev->link_next = op.link_next; else parked_head_ = op.link_next;
  if (op.link_next) op.link_next->link_prev = op.link_prev; else parked_tail_ = op.link_prev;
  op.link_prev = op.link_next = nullptr;
  --parked_count_;
}

void worker_submitter::request_space() noexcept {
  if (space_requested_) return;
  space_requested_ = true;
  workers_.notify_when_space(owner_, notice_);
}

void worker_submitter::space_notice::run(work_item& w) noexcept {
  auto& self = *static_cast<space_notice&>(w).self;
  self.space_requested_ = false;
  self.retry_parked();
}

void worker_submitter::retry_parked() noexcept {
  while (op_base* op = parked_head_) {
    // The op's links serve the parked list and the pool's queue alike: it must leave the one
    // before try_enqueue() links it into the other (and a worker may take it at once).
    unpark(*op);
    if (!workers_.try_enqueue(*op)) {
      park_front(*op);
      request_space();
      return;
    }
    op->backend_route = at_workers;
  }
}

bool worker_submitter::cancel(op_base& op) noexcept {
  if (op.backend_route == at_parked) {
    unpark(op);
    return true;
  }
  switch (workers_.cancel(op)) {
    case worker_pool::cancel_outcome::dequeued:
      return true;
    case worker_pool::cancel_outcome::interrupting:
      // The signal may have landed just before the worker entered its syscall: ask again in a
      // millisecond, until the op's completion (which disarms this timer) arrives.
      op.deadline_timer.run = &worker_submitter::cancel_again;
      try {
        owner_.arm_timer(op.deadline_timer, monotonic_now_ns() + 1'000'000);
      } catch (...) {
        // Without the retry a lost signal leaves the lock waiting until it is granted; that is
        // the AIO_NOTCANCELED outcome, still exactly once.
      }
      return false;
    default:
      return false;
  }
}

void worker_submitter::cancel_again(work_item& w) noexcept {
  op_base& op = *static_cast<op_deadline&>(w).op;
  op.owner->io().cancel(op);
}

}  // namespace couring::pool
