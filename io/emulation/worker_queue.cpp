#include "worker_queue.hpp"

#include "io/backend/backend.hpp"

namespace couring::emulation {

worker_queue::worker_queue(scheduler& owner, worker_pool& workers) noexcept
    : owner_(owner), workers_(workers), notice_(this) {}

worker_queue::~worker_queue() {
  // The pool must not post our notice after we are gone.
  if (space_requested_) workers_.forget_space_request(notice_);
}

bool worker_queue::submit(op_base& op) noexcept {
  // Keep FIFO order behind ops already waiting for room.
  if (parked_head_ == nullptr && workers_.try_enqueue(op)) {
    state_of(op).where = emulated_op::place::workers;
    return false;
  }
  park_back(op);
  request_space();
  return true;
}

void worker_queue::park_back(op_base& op) noexcept {
  emulated_op& e = state_of(op);
  e.where = emulated_op::place::parked;
  e.next = nullptr;
  e.prev = parked_tail_;
  if (parked_tail_) state_of(*parked_tail_).next = &op; else parked_head_ = &op;
  parked_tail_ = &op;
  ++parked_count_;
}

void worker_queue::park_front(op_base& op) noexcept {
  emulated_op& e = state_of(op);
  e.where = emulated_op::place::parked;
  e.prev = nullptr;
  e.next = parked_head_;
  if (parked_head_) state_of(*parked_head_).prev = &op; else parked_tail_ = &op;
  parked_head_ = &op;
  ++parked_count_;
}

void worker_queue::unpark(op_base& op) noexcept {
  emulated_op& e = state_of(op);
  if (e.prev) state_of(*e.prev).next = e.next; else parked_head_ = e.next;
  if (e.next) state_of(*e.next).prev = e.prev; else parked_tail_ = e.prev;
  e.prev = e.next = nullptr;
  e.where = emulated_op::place::none;
  --parked_count_;
}

void worker_queue::request_space() noexcept {
  if (space_requested_) return;
  space_requested_ = true;
  workers_.notify_when_space(owner_, notice_);
}

void worker_queue::space_notice::run(work_item& w) noexcept {
  auto& self = *static_cast<space_notice&>(w).self;
  self.space_requested_ = false;
  self.retry_parked();
}

void worker_queue::retry_parked() noexcept {
  while (op_base* op = parked_head_) {
    // Unlinked before it is offered: the pool's queue links the op through the same fields, and
    // once enqueued a worker may take it at any moment.
    unpark(*op);
    state_of(*op).where = emulated_op::place::workers;
    if (!workers_.try_enqueue(*op)) {
      park_front(*op);  // still full: it stays first in line
      request_space();
      return;
    }
  }
}

bool worker_queue::cancel(op_base& op) noexcept {
  if (state_of(op).where == emulated_op::place::parked) {
    unpark(op);
    return true;
  }
  switch (workers_.cancel(op)) {
    case worker_pool::cancel_outcome::dequeued:
      return true;
    case worker_pool::cancel_outcome::interrupting: {
      // The signal may have landed just before the worker entered its syscall: ask again in a
      // millisecond, until the op's completion (which disarms this timer) arrives.
      op_timer& retry = state_of(op).timer;
      retry.run = &worker_queue::cancel_again;
      try {
        owner_.arm_timer(retry, monotonic_now_ns() + 1'000'000);
      } catch (...) {
        // Without the retry a lost signal leaves the lock waiting until it is granted; that is
        // the AIO_NOTCANCELED outcome, still exactly once.
      }
      return false;
    }
    case worker_pool::cancel_outcome::running:
    case worker_pool::cancel_outcome::already_done:
      return false;
  }
  return false;
}

void worker_queue::cancel_again(work_item& w) noexcept {
  op_base& op = *static_cast<op_timer&>(w).op;
  op.owner->cancel(op);
}

}  // namespace couring::emulation
