// co_await yield(): lets every other ready coroutine run (and pending I/O be submitted) before
// this one continues. For long computations that must not starve the loop.
#pragma once

#include <couring/assert.hpp>
#include <couring/resume_item.hpp>
#include <couring/scheduler.hpp>

#include <coroutine>

namespace couring {

class [[nodiscard]] yield_awaitable {
 public:
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    scheduler* s = scheduler::current();
    COURING_ASSERT(s != nullptr, "yield() outside a couring runtime thread");
    item_.handle = h;
    s->post(item_);
  }
  void await_resume() const noexcept {}

 private:
  resume_item item_;
};

inline yield_awaitable yield() noexcept { return {}; }

}  // namespace couring
