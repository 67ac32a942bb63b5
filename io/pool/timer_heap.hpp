// timer_heap: the loop's timers on the thread-pool backend, a binary min-heap of ops ordered by
// deadline. Each op remembers its slot (op_base::backend_index), so cancelling one is O(log n).
// The vector grows with the number of concurrent timers and is reused; no allocation per timer.
#pragma once

#include <couring/op.hpp>

#include <cstdint>
#include <vector>

namespace couring::pool {

class timer_heap {
 public:
  // Deadlines are CLOCK_MONOTONIC nanoseconds.
  void push(op_base& op, std::int64_t deadline_ns);
  void remove(op_base& op) noexcept;
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  std::int64_t next_deadline() const noexcept { return heap_.front().deadline; }
  op_base& top() const noexcept { return *heap_.front().op; }
  bool contains(const op_base& op) const noexcept {
    return op.backend_index < heap_.size() && heap_[op.backend_index].op == &op;
  }

 private:
  struct entry {
    std::int64_t deadline;
    op_base* op;
  };
  void place(std::size_t i, entry e) noexcept;
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;

  std::vector<entry> heap_;
};

}  // namespace couring::pool
