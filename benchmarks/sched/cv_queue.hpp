// The baseline couring's cross-shard messaging is measured against: what a C++ programmer writes
// without a runtime, a std::deque guarded by a std::mutex with std::condition_variables, between
// two plain threads. Notifications go out after unlocking and only when someone waits, the usual
// careful version.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace bench {

template <class T>
class cv_queue {
 public:
  explicit cv_queue(std::size_t capacity) : capacity_(capacity) {}

  void push(T v) {
    bool wake;
    {
      std::unique_lock lock(mutex_);
      not_full_.wait(lock, [&] { return items_.size() < capacity_; });
      items_.push_back(std::move(v));
      wake = consumers_waiting_ > 0;
    }
    if (wake) not_empty_.notify_one();
  }

  // nullopt once closed and drained.
  std::optional<T> pop() {
    std::optional<T> v;
    bool wake;
    {
      std::unique_lock lock(mutex_);
      ++consumers_waiting_;
      not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
      --consumers_waiting_;
      if (items_.empty()) return v;
      v.emplace(std::move(items_.front()));
      items_.pop_front();
      wake = items_.size() + 1 == capacity_;  // it was full: a producer may wait
    }
    if (wake) not_full_.notify_one();
    return v;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  std::size_t capacity_;
  std::size_t consumers_waiting_ = 0;
  bool closed_ = false;
};

}  // namespace bench
