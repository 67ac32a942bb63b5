// work_item: the one thing a scheduler runs. Ops, timers, cross-thread messages and spawned tasks
// embed one, so queuing work never allocates.
#pragma once

namespace couring {

struct work_item {
  using run_fn = void (*)(work_item&) noexcept;

  explicit work_item(run_fn fn) noexcept : run(fn) {}

  work_item* next = nullptr;
  run_fn run;
};

// FIFO of work_items linked through `next`; single-threaded.
class work_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }

  void push(work_item& w) noexcept {
    w.next = nullptr;
    if (tail_) tail_->next = &w; else head_ = &w;
    tail_ = &w;
  }

  work_item* pop() noexcept {
    work_item* w = head_;
    if (w) {
      head_ = w->next;
      if (!head_) tail_ = nullptr;
    }
    return w;
  }

  // Moves every item of `other` to the back of this queue, keeping their order.
  void splice(work_queue& other) noexcept {
    if (other.empty()) return;
    if (tail_) tail_->next = other.head_; else head_ = other.head_;
    tail_ = other.tail_;
    other.head_ = other.tail_ = nullptr;
  }

 private:
  work_item* head_ = nullptr;
  work_item* tail_ = nullptr;
};

}  // namespace couring
