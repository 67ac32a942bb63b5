// remote_queue: how other threads hand work to a scheduler (worker completions, cross-shard
// messages). Many producers push; the owner takes everything at once, so a burst of pushes costs
// the owner one exchange and, if it was asleep, one wakeup.
#pragma once

#include <couring/work_item.hpp>

#include <atomic>

namespace couring {

class remote_queue {
 public:
  // Any thread. seq_cst so that a producer's push and its later read of the owner's "sleeping"
  // flag cannot be reordered: pairs with scheduler::run_until's store/empty() sequence.
  void push(work_item& w) noexcept {
    work_item* head = head_.load(std::memory_order_relaxed);
    do {
      w.next = head;
    } while (!head_.compare_exchange_weak(head, &w, std::memory_order_seq_cst, std::memory_order_relaxed));
  }

  bool empty() const noexcept { return head_.load(std::memory_order_seq_cst) == nullptr; }

  // Owner only. Appends everything pushed so far to `out`, oldest first.
  void drain_into(work_queue& out) noexcept {
    // acquire pairs with push()'s CAS: the items' contents are visible before we run them.
    work_item* stack = head_.exchange(nullptr, std::memory_order_acquire);
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

 private:
  std::atomic<work_item*> head_{nullptr};
};

}  // namespace couring
