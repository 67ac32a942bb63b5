#include "timer_heap.hpp"

namespace couring::pool {

void timer_heap::place(std::size_t i, entry e) noexcept {
  heap_[i] = e;
  e.op->backend_index = static_cast<std::uint32_t>(i);
}

void timer_heap::push(op_base& op, std::int64_t deadline_ns) {
  heap_.push_back({deadline_ns, &op});
  op.backend_index = static_cast<std::uint32_t>(heap_.size() - 1);
  sift_up(heap_.size() - 1);
}

void timer_heap::remove(op_base& op) noexcept {
  std::size_t i = op.backend_index;
  entry last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;  // it was the last slot
  place(i, last);
  sift_up(i);
  sift_down(last.op->backend_index);  // wherever sift_up left it
}

void timer_heap::sift_up(std::size_t i) noexcept {
  entry e = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (heap_[parent].deadline <= e.deadline) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, e);
}

void timer_heap::sift_down(std::size_t i) noexcept {
  entry e = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1].deadline < heap_[child].deadline) ++child;
    if (e.deadline <= heap_[child].deadline) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, e);
}

}  // namespace couring::pool
