#include <couring/timer.hpp>

#include <time.h>

namespace couring {

std::int64_t monotonic_now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void timer_queue::place(std::size_t i, timer_node* t) noexcept {
  heap_[i] = t;
  t->heap_index = static_cast<std::uint32_t>(i);
}

void timer_queue::arm(timer_node& t, std::int64_t deadline_ns) {
  if (t.armed()) disarm(t);
  t.deadline_ns = deadline_ns;
  heap_.push_back(&t);
  t.heap_index = static_cast<std::uint32_t>(heap_.size() - 1);
  sift_up(heap_.size() - 1);
}

void timer_queue::disarm(timer_node& t) noexcept {
  if (!t.armed()) return;
  std::size_t i = t.heap_index;
  timer_node* last = heap_.back();
  heap_.pop_back();
  t.heap_index = timer_node::not_armed;
  if (i == heap_.size()) return;  // it was the last slot
  place(i, last);
  sift_up(i);
  sift_down(last->heap_index);  // wherever sift_up left it
}

void timer_queue::run_expired(std::int64_t now) noexcept {
  while (!heap_.empty() && heap_.front()->deadline_ns <= now) {
    timer_node& t = *heap_.front();
    disarm(t);
    t.run(t);
  }
}

void timer_queue::sift_up(std::size_t i) noexcept {
  timer_node* t = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline_ns <= t->deadline_ns) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void timer_queue::sift_down(std::size_t i) noexcept {
  timer_node* t = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->deadline_ns < heap_[child]->deadline_ns) ++child;
    if (t->deadline_ns <= heap_[child]->deadline_ns) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, t);
}

}  // namespace couring
