// worker_pool: the POSIX-AIO emulation's threads. Workers take queued ops, highest priority
// first, and run each as one blocking syscall. They start on demand: an op that arrives when no
// worker is idle starts one, up to the limit, and a worker idle for `idle_timeout` exits, so a
// program that never needs a worker runs none. The queue is bounded: a full
// queue refuses an op and the submitting backend keeps it parked (it lives in its coroutine
// frame, so parking costs no memory) until notify_when_space() tells it room was made.
//
// Threads: enqueue/cancel/notify are called by shard threads; workers complete ops through the
// op owner's remote queue, never by resuming them. A queued or running op is linked and marked
// through its emulation state (emulated_op).
#pragma once

#include <couring/op.hpp>
#include <couring/scheduler.hpp>
#include <couring/work_item.hpp>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

namespace couring::emulation {

class worker_pool {
 public:
  worker_pool(unsigned max_threads, std::size_t queue_capacity, std::chrono::milliseconds idle_timeout);
  ~worker_pool();  // stop()s

  // Ends and joins the workers (idempotent); the queue must be empty. Afterwards no worker can be
  // inside an owner's post_remote(), which wakes that owner's backend: its owner calls this
  // before destroying the backend.
  void stop() noexcept;
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  // False when the queue is full; the op is untouched and still the caller's.
  bool try_enqueue(op_base& op) noexcept;

  enum class cancel_outcome {
    dequeued,      // AIO_CANCELED: it will never run; the caller completes it with -ECANCELED
    running,       // AIO_NOTCANCELED: a worker is in its syscall; its real result will arrive
    interrupting,  // an interruptible syscall (a waiting lock) was signalled; ask again shortly in
                   // case the signal arrived just before the syscall began
    already_done   // AIO_ALLDONE: its completion is on the way to the owner
  };
  cancel_outcome cancel(op_base& op) noexcept;

  // Posts `item` to `owner` (once) when a queued op leaves the queue. Used for back-pressure.
  void notify_when_space(scheduler& owner, work_item& item) noexcept;
  // Withdraws a notify_when_space() request that has not fired.
  void forget_space_request(work_item& item) noexcept;

  // Shutdown: removes every queued op owned by `owner` and calls `fn(op)` for each, on the
  // caller's thread, after the lock is released.
  template <class Fn>
  void dequeue_all_of(const scheduler& owner, Fn&& fn);

  // The ops of `owner` that workers are running now (their completions are still to come).
  std::vector<op_base*> running_of(const scheduler& owner);

  unsigned threads() const noexcept { return static_cast<unsigned>(slots_.size()); }  // the limit
  unsigned started() const noexcept;  // workers alive now
  std::size_t capacity() const noexcept { return capacity_; }
  // The largest queue length ever seen: a test reads it to prove the bound held.
  std::size_t high_water() const noexcept;

 private:
  // 3 classes (real-time, best-effort, idle) x 8 levels; ioprio 0 means best-effort level 4,
  // which is what Linux gives a thread at nice 0.
  static constexpr std::size_t priority_slots = 24;
  static std::size_t slot_of(std::uint16_t ioprio) noexcept;

  struct fifo {
    op_base* head = nullptr;
    op_base* tail = nullptr;
  };
  struct space_waiter {
    scheduler* owner;
    work_item* item;
  };

  void worker_main(unsigned index) noexcept;
  // Starts a worker in slot `index`, reserved (alive) by the caller under the lock.
  void start_worker(unsigned index) noexcept;
  // No worker could be started and none is alive: what is queued fails as the kernel would say.
  void fail_queued_for_want_of_workers() noexcept;
  op_base* pop_locked() noexcept;
  void unlink_locked(op_base& op) noexcept;
  void post_space_waiters_locked() noexcept;

  std::vector<op_base*> take_all_of_locked(const scheduler& owner);

  mutable std::mutex mutex_;
  std::condition_variable work_available_;
  std::array<fifo, priority_slots> queues_{};
  std::size_t queued_ = 0;
  std::size_t high_water_ = 0;
  std::size_t capacity_;
  bool stopping_ = false;
  // Wakeups are rationed: at most one notify is on its way at a time, and a woken worker that
  // still sees queued ops wakes the next one. A burst of N ops then wakes only as many workers as
  // keep up with it (page-cache reads: two or three; blocking reads: one after another, until
  // every worker is busy) instead of N, each wakeup costing a futex call and a context switch.
  unsigned idle_ = 0;     // workers blocked in work_available_.wait()
  bool waking_ = false;   // a notify is on its way to one of them
  std::vector<space_waiter> space_waiters_;

  struct slot {
    std::thread thread;         // joined by whoever reuses the slot, or by stop()
    pthread_t native{};         // to signal a worker whose syscall a cancel interrupts
    op_base* running = nullptr;
    bool alive = false;         // reserved or running; false once its worker has exited
  };
  std::vector<slot> slots_;     // one per possible worker; under mutex_
  unsigned live_ = 0;           // slots alive
  std::chrono::milliseconds idle_timeout_;
};

// The signal that interrupts a worker's interruptible syscall (SIGRTMIN + 5). Its handler does
// nothing; it is installed, without SA_RESTART, when the first pool starts.
int worker_interrupt_signal() noexcept;

template <class Fn>
void worker_pool::dequeue_all_of(const scheduler& owner, Fn&& fn) {
  std::vector<op_base*> taken;
  {
    std::lock_guard lock(mutex_);
    taken = take_all_of_locked(owner);
  }
  for (op_base* op : taken) fn(*op);
}

}  // namespace couring::emulation
