#include "engine.hpp"

#include "worker_pool.hpp"

#include "io/backend/backend.hpp"
#include "io/backend/request_table.hpp"

#include <couring/assert.hpp>

#include <cerrno>
#include <new>

namespace couring::emulation {

engine::engine(scheduler& loop, worker_pool& workers, readiness_host& readiness, op_counters& counters) noexcept
    : loop_(loop), readiness_(readiness), counters_(counters), workers_(loop, workers) {}

engine::~engine() {
  COURING_ASSERT(sleeping_ == nullptr && workers_.parked() == 0, "the emulation was destroyed with ops it holds");
}

void engine::submit(op_base& op) noexcept {
  emulated_op& e = op.held.claim<emulated_op>();
  e.home = this;
  e.timer.op = &op;
  if (op.slots) {
    // Nothing is installed straight into a file_table here: the new descriptor comes back as the
    // result, for the table to adopt.
    op.slots->install_slot = -1;
    if (op.slots->table) {
      int r = kind_of(op).use_plain_descriptors(op.req, *op.slots);
      op.slots->table = nullptr;
      if (r < 0) {
        complete(op, r);
        return;
      }
    }
  }
  emulation_plan p = kind_of(op).emulate(op.req);
  switch (p.how) {
    case emulation_plan::route::immediate:
      complete(op, p.res);
      return;
    case emulation_plan::route::readiness:
      e.fd = p.fd;
      e.events = p.events;
      if (int r = readiness_.watch(op, p.fd, p.events); r < 0) {
        // epoll refuses some fds that read/write can still serve (e.g. /dev/null): block instead.
        if (r != -EPERM) {
          complete(op, r);
          return;
        }
        to_workers(op);
      } else {
        e.where = emulated_op::place::readiness;
      }
      arm_deadline(op);
      return;
    case emulation_plan::route::worker:
      to_workers(op);
      arm_deadline(op);
      return;
    case emulation_plan::route::timer:
      start_sleep(op, p.when_ns);
      return;
  }
}

void engine::to_workers(op_base& op) noexcept {
  op.run = &engine::worker_done;  // its completion passes through here before it resumes anyone
  if (workers_.submit(op)) counters_.pool_parked.add();
}

void engine::arm_deadline(op_base& op) noexcept {
  if (op.deadline_ns == 0) return;
  emulated_op& e = state_of(op);
  e.timer.run = &engine::deadline_fired;
  try {
    loop_.arm_timer(e.timer, op.deadline_ns);
  } catch (const std::bad_alloc&) {
    deadline_fired(e.timer);  // without a timer the deadline cannot be kept: expiring now is the honest outcome
  }
}

void engine::deadline_fired(work_item& w) noexcept {
  op_base& op = *static_cast<op_timer&>(w).op;
  if (op.state != op_state::submitted) return;  // finished meanwhile; its completion is queued
  op.cancel = cancel_reason::timed_out;
  op.owner->cancel(op);
}

// A sleep is the op's own timer, armed at the earlier of its wake-up time and its deadline.
void engine::start_sleep(op_base& op, std::int64_t wake_ns) noexcept {
  emulated_op& e = state_of(op);
  const bool deadline_first = op.deadline_ns != 0 && op.deadline_ns < wake_ns;
  e.timer.run = deadline_first ? &engine::deadline_fired : &engine::sleep_fired;
  try {
    loop_.arm_timer(e.timer, deadline_first ? op.deadline_ns : wake_ns);
  } catch (const std::bad_alloc&) {
    complete(op, -ENOMEM);
    return;
  }
  e.where = emulated_op::place::timers;
  link_sleeper(op);
}

void engine::link_sleeper(op_base& op) noexcept {
  emulated_op& e = state_of(op);
  e.prev = nullptr;
  e.next = sleeping_;
  if (sleeping_) state_of(*sleeping_).prev = &op;
  sleeping_ = &op;
}

void engine::unlink_sleeper(op_base& op) noexcept {
  emulated_op& e = state_of(op);
  if (e.prev) state_of(*e.prev).next = e.next; else sleeping_ = e.next;
  if (e.next) state_of(*e.next).prev = e.prev;
  e.prev = e.next = nullptr;
}

void engine::sleep_fired(work_item& w) noexcept {
  op_base& op = *static_cast<op_timer&>(w).op;
  state_of(op).home->unlink_sleeper(op);
  state_of(op).where = emulated_op::place::none;
  complete(op, -ETIME);
}

int engine::attempt(op_base& op) noexcept { return emulation::normalise_again(kind_of(op).attempt(op.req)); }

void engine::finish(op_base& op, int res) noexcept {
  emulated_op& e = state_of(op);
  if (e.timer.armed()) op.owner->loop().disarm_timer(e.timer);
  e.where = emulated_op::place::none;
  complete(op, res);
}

// A worker's completion (or a dequeued op's cancellation), on the owner thread.
void engine::worker_done(work_item& w) noexcept {
  auto& op = static_cast<op_base&>(w);
  emulated_op& e = state_of(op);
  if (e.timer.armed()) op.owner->loop().disarm_timer(e.timer);  // a deadline, or a cancel's retry
  e.where = emulated_op::place::none;
  op.run = &op_base::finish;
  op_base::finish(op);
}

void engine::cancel(op_base& op) noexcept {
  emulated_op& e = state_of(op);
  switch (e.where) {
    case emulated_op::place::workers:
    case emulated_op::place::parked:
      if (workers_.cancel(op)) complete(op, -ECANCELED);  // dequeued: it never ran
      return;
    case emulated_op::place::readiness:
      if (readiness_.unwatch(op)) finish(op, -ECANCELED);
      return;
    case emulated_op::place::timers:
      unlink_sleeper(op);
      finish(op, -ECANCELED);
      return;
    case emulated_op::place::none:
      return;  // completing already
  }
}

void engine::cancel_all() noexcept {
  workers_.cancel_all([](op_base& op) { complete(op, -ECANCELED); });
  while (sleeping_) cancel(*sleeping_);
}

}  // namespace couring::emulation
