#include "worker_pool.hpp"

#include "emulated_op.hpp"

#include "io/backend/backend.hpp"
#include "io/backend/request_table.hpp"

#include "sched/base/log.hpp"

#include <couring/assert.hpp>

#include <fmt/core.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>

namespace couring::emulation {
namespace {

// emulated_op::worker_state values; written under the pool mutex, read by cancel() under it too.
// interrupt_bit is added to state_running when a cancel signals the worker.
enum : std::uint8_t { state_queued = 1, state_running = 2, state_done = 3, interrupt_bit = 0x10 };

// The worker_state of the op this worker thread is running (nullptr between ops): a cancel sets
// its interrupt_bit before signalling the thread.
thread_local const std::atomic<std::uint8_t>* running_state = nullptr;

void on_interrupt(int) {}  // its only job is to make the syscall return EINTR

void install_interrupt_handler() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the interrupted syscall must return
    sigaction(worker_interrupt_signal(), &sa, nullptr);
  });
}

}  // namespace

int worker_interrupt_signal() noexcept { return SIGRTMIN + 5; }

bool cancel_requested_on_this_worker() noexcept {
  // acquire pairs with cancel()'s release store of interrupt_bit, made before the signal.
  return running_state && (running_state->load(std::memory_order_acquire) & interrupt_bit);
}

worker_pool::worker_pool(unsigned max_threads, std::size_t queue_capacity, std::chrono::milliseconds idle_timeout)
    : capacity_(std::max<std::size_t>(queue_capacity, 1)),
      slots_(std::max(max_threads, 1u)),
      idle_timeout_(idle_timeout) {
  install_interrupt_handler();
}

worker_pool::~worker_pool() { stop(); }

void worker_pool::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    COURING_ASSERT(queued_ == 0, "the worker pool was stopped with ops still queued");
    stopping_ = true;
  }
  work_available_.notify_all();
  // No op can arrive any more (the shards have stopped), so no worker starts meanwhile.
  for (slot& s : slots_) {
    if (s.thread.joinable()) s.thread.join();
  }
}

unsigned worker_pool::started() const noexcept {
  std::lock_guard lock(mutex_);
  return live_;
}

void worker_pool::start_worker(unsigned index) noexcept {
  std::thread exited;
  {
    std::lock_guard lock(mutex_);
    exited = std::move(slots_[index].thread);
  }
  if (exited.joinable()) exited.join();  // the slot's last worker, already gone or on its way out

  // Workers never take process signals (those belong to signalfds and user handlers), except the
  // one couring sends to interrupt a waiting lock; a thread inherits its creator's mask.
  sigset_t all, previous;
  sigfillset(&all);
  sigdelset(&all, worker_interrupt_signal());
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  bool failed = false;
  {
    // Under the lock, so that the thread object is in its slot before the worker could exit.
    std::lock_guard lock(mutex_);
    try {
      slots_[index].thread = std::thread([this, index] { worker_main(index); });
    } catch (const std::system_error& e) {
      slots_[index].alive = false;
      --live_;
      failed = true;
      detail::log_error(fmt::format("cannot start a thread-pool worker ({}); {} worker(s) running", e.what(), live_));
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (failed) fail_queued_for_want_of_workers();
}

void worker_pool::fail_queued_for_want_of_workers() noexcept {
  std::vector<op_base*> failed;
  {
    std::lock_guard lock(mutex_);
    if (live_ > 0) return;  // a running worker will take them
    while (op_base* op = pop_locked()) {
      state_of(*op).worker_state.store(state_done, std::memory_order_relaxed);
      failed.push_back(op);
    }
    post_space_waiters_locked();
  }
  // What aio_read reports when the system lacks the resources to queue a request.
  for (op_base* op : failed) complete_from_worker(*op, -EAGAIN);
}

std::size_t worker_pool::slot_of(std::uint16_t ioprio) noexcept {
  unsigned cls = ioprio >> 13;
  unsigned level = ioprio & 7u;
  if (cls < 1 || cls > 3) return 8 + 4;  // no class given: best-effort, level 4
  return (cls - 1) * 8 + level;
}

bool worker_pool::try_enqueue(op_base& op) noexcept {
  bool wake = false;
  unsigned start = 0;
  bool grow = false;
  {
    std::lock_guard lock(mutex_);
    if (queued_ >= capacity_) return false;
    fifo& q = queues_[slot_of(op.ioprio)];
    emulated_op& e = state_of(op);
    e.next = nullptr;
    e.prev = q.tail;
    if (q.tail) state_of(*q.tail).next = &op; else q.head = &op;
    q.tail = &op;
    e.worker_state.store(state_queued, std::memory_order_relaxed);
    ++queued_;
    high_water_ = std::max(high_water_, queued_);
    // A notify already on its way: the worker it wakes passes the wakeup on if it leaves ops
    // behind. Nobody idle: every live worker looks at the queue again before it sleeps, and
    // another one starts if the limit allows.
    if (idle_ > 0) {
      wake = !waking_;
      if (wake) waking_ = true;
    } else if (live_ < slots_.size()) {
      while (slots_[start].alive) ++start;
      slots_[start].alive = true;
      ++live_;
      grow = true;
    }
  }
  if (wake) work_available_.notify_one();
  if (grow) start_worker(start);
  return true;
}

void worker_pool::unlink_locked(op_base& op) noexcept {
  fifo& q = queues_[slot_of(op.ioprio)];
  emulated_op& e = state_of(op);
  if (e.prev) state_of(*e.prev).next = e.next; else q.head = e.next;
  if (e.next) state_of(*e.next).prev = e.prev; else q.tail = e.prev;
  e.prev = e.next = nullptr;
  --queued_;
}

op_base* worker_pool::pop_locked() noexcept {
  for (fifo& q : queues_) {
    if (q.head) {
      op_base* op = q.head;
      unlink_locked(*op);
      return op;
    }
  }
  return nullptr;
}

worker_pool::cancel_outcome worker_pool::cancel(op_base& op) noexcept {
  cancel_outcome outcome;
  {
    std::lock_guard lock(mutex_);
    emulated_op& e = state_of(op);
    switch (e.worker_state.load(std::memory_order_relaxed)) {
      case state_queued:
        unlink_locked(op);
        e.worker_state.store(state_done, std::memory_order_relaxed);
        post_space_waiters_locked();
        outcome = cancel_outcome::dequeued;
        break;
      case state_running:
      case state_running | interrupt_bit:
        if (kind_of(op).facts.interruptible) {
          e.worker_state.store(state_running | interrupt_bit, std::memory_order_release);
          pthread_kill(slots_[e.worker].native, worker_interrupt_signal());
          outcome = cancel_outcome::interrupting;
        } else {
          outcome = cancel_outcome::running;
        }
        break;
      default: outcome = cancel_outcome::already_done; break;
    }
  }
  return outcome;
}

void worker_pool::post_space_waiters_locked() noexcept {
  // Posting under the lock is what lets forget_space_request() promise "no post after this";
  // post_remote is lock-free, so no lock order is created.
  for (auto& w : space_waiters_) w.owner->post_remote(*w.item);
  space_waiters_.clear();
}

void worker_pool::notify_when_space(scheduler& owner, work_item& item) noexcept {
  std::lock_guard lock(mutex_);
  if (queued_ < capacity_) {
    owner.post_remote(item);  // room was made meanwhile
    return;
  }
  try {
    space_waiters_.push_back({&owner, &item});
  } catch (...) {
    owner.post_remote(item);  // cannot record the wait: let the owner retry at once instead
  }
}

void worker_pool::forget_space_request(work_item& item) noexcept {
  std::lock_guard lock(mutex_);
  std::erase_if(space_waiters_, [&item](const space_waiter& w) { return w.item == &item; });
}

std::vector<op_base*> worker_pool::take_all_of_locked(const scheduler& owner) {
  std::vector<op_base*> taken;
  for (fifo& q : queues_) {
    for (op_base* op = q.head; op;) {
      op_base* next = state_of(*op).next;
      if (&op->owner->loop() == &owner) {
        unlink_locked(*op);
        state_of(*op).worker_state.store(state_done, std::memory_order_relaxed);
        taken.push_back(op);
      }
      op = next;
    }
  }
  return taken;
}

std::vector<op_base*> worker_pool::running_of(const scheduler& owner) {
  std::vector<op_base*> ops;
  std::lock_guard lock(mutex_);
  for (const slot& s : slots_)
    if (s.running && &s.running->owner->loop() == &owner) ops.push_back(s.running);
  return ops;
}

std::size_t worker_pool::high_water() const noexcept {
  std::lock_guard lock(mutex_);
  return high_water_;
}

void worker_pool::worker_main(unsigned index) noexcept {
  {
    std::lock_guard lock(mutex_);
    slots_[index].native = pthread_self();  // before it runs an op a cancel could interrupt
  }
  for (;;) {
    op_base* op;
    bool chain = false;
    {
      std::unique_lock lock(mutex_);
      while (!stopping_ && queued_ == 0) {
        ++idle_;
        const bool timed_out = work_available_.wait_for(lock, idle_timeout_) == std::cv_status::timeout;
        --idle_;
        waking_ = false;  // whoever woke (even spuriously) re-checks the queue, so the next notify may go
        if (timed_out && !stopping_ && queued_ == 0) {
          slots_[index].alive = false;  // idle too long: the next op that finds nobody idle starts one
          --live_;
          return;
        }
      }
      if (queued_ == 0) {  // stopping and nothing left
        slots_[index].alive = false;
        --live_;
        return;
      }
      op = pop_locked();
      if (queued_ > 0 && idle_ > 0 && !waking_) {  // pass the wakeup on: ops are still waiting
        waking_ = true;
        chain = true;
      }
      state_of(*op).worker_state.store(state_running, std::memory_order_relaxed);
      state_of(*op).worker = index;  // who to signal if a cancel interrupts it
      slots_[index].running = op;
      post_space_waiters_locked();
    }
    if (chain) work_available_.notify_one();

    // cancel() sets interrupt_bit (release; the check's acquire pairs with it) and signals this
    // thread; the call then returns EINTR, which means cancelled. A call that transferred
    // something before the signal reports that instead, as POSIX says it must.
    running_state = &state_of(*op).worker_state;
    int res = kind_of(*op).exec(op->req);
    running_state = nullptr;
    if (res == -EINTR) res = -ECANCELED;

    {
      std::lock_guard lock(mutex_);
      state_of(*op).worker_state.store(state_done, std::memory_order_relaxed);
      slots_[index].running = nullptr;
    }
    // The op may be resumed and destroyed as soon as it is pushed: touch nothing of it afterwards.
    complete_from_worker(*op, res);
  }
}

}  // namespace couring::emulation
