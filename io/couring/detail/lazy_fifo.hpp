// lazy_fifo: a first-in first-out queue that allocates nothing until its first item and keeps
// its storage once drained. Streams hold one per connection: std::deque would allocate about
// 600 bytes up front, a third of what an idle connection costs couring.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace couring::detail {

template <class T>
class lazy_fifo {
 public:
  bool empty() const noexcept { return head_ == items_.size(); }
  std::size_t size() const noexcept { return items_.size() - head_; }

  void push(T item) { items_.push_back(std::move(item)); }

  T pop() {
    T item = std::move(items_[head_++]);
    if (empty()) {
      clear();
    } else if (head_ >= compact_after && head_ * 2 >= items_.size()) {
      // A consumer that never quite catches up would otherwise grow the vector for ever.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return item;
  }

  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }

 private:
  static constexpr std::size_t compact_after = 32;
  std::vector<T> items_;
  std::size_t head_ = 0;  // items_[0, head_) were taken (moved from)
};

}  // namespace couring::detail
