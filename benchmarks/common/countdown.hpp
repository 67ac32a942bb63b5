// countdown: one coroutine waits until `n` spawned tasks have arrived. The benchmarks need it to
// start N workers and wait for all of them; waiting in a yield() loop instead would keep the
// ready queue non-empty, turn every blocking io_uring_enter into a polling one, and so change the
// very batching being measured.
#pragma once

#include <couring/resume_item.hpp>
#include <couring/scheduler.hpp>

#include <coroutine>
#include <cstddef>

namespace bench {

class countdown {
 public:
  void reset(std::size_t n) noexcept { left_ = n; }

  // The last arrival queues the waiter on the scheduler: only the loop resumes coroutines.
  void arrive() noexcept {
    if (--left_ == 0 && waiter_) {
      wake_.handle = waiter_;
      waiter_ = {};
      couring::scheduler::current()->post(wake_);
    }
  }

  struct awaiter {
    countdown& c;
    bool await_ready() const noexcept { return c.left_ == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { c.waiter_ = h; }
    void await_resume() const noexcept {}
  };
  awaiter wait() noexcept { return {*this}; }

 private:
  std::size_t left_ = 0;
  std::coroutine_handle<> waiter_;
  couring::resume_item wake_;
};

}  // namespace bench
