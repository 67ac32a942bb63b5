// The remote queue: how other threads hand work to a scheduler (worker completions, cross-shard
// messages). Many producers push onto a lock-free stack; the owner takes everything at once, so a
// burst of pushes costs the owner one exchange and, if it was asleep, one wakeup.
#pragma once

#include <couring/work_item.hpp>

#include <atomic>

namespace couring::remote_queue {

// Any thread. seq_cst so that a producer's push and its later read of the owner's "sleeping" flag
// cannot be reordered: pairs with scheduler::wait_for_events' store/empty() sequence.
inline void push(std::atomic<work_item*>& head, work_item& w) noexcept {
  work_item* top = head.load(std::memory_order_relaxed);
  do {
    w.next = top;
  } while (!head.compare_exchange_weak(top, &w, std::memory_order_seq_cst, std::memory_order_relaxed));
}

inline bool empty(const std::atomic<work_item*>& head) noexcept {
  return head.load(std::memory_order_seq_cst) == nullptr;
}

// Owner only. Appends everything pushed so far to `out`, oldest first.
inline void drain_into(std::atomic<work_item*>& head, work_queue& out) noexcept {
  // acquire pairs with push()'s CAS: the items' contents are visible before we run them.
  work_item* stack = head.exchange(nullptr, std::memory_order_acquire);
  work_item* reversed = nullptr;
  while (stack) {
    work_item* next = stack->next;
    stack->next = reversed;
    reversed = stack;
    stack = next;
  }
  while (reversed) {
    work_item* next = reversed->next;
    out.push(*reversed);
    reversed = next;
  }
}

}  // namespace couring::remote_queue
