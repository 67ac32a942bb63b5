// spawn(task): runs a task detached on the current scheduler. Nobody awaits it, so an exception
// escaping it goes to the runtime's unhandled-exception handler (by default: logged, then
// rethrown from run()); it is never silently lost. Tasks still suspended when run() ends are
// cancelled, then destroyed.
#pragma once

#include <couring/assert.hpp>
#include <couring/resume_item.hpp>
#include <couring/scheduler.hpp>
#include <couring/task.hpp>

#include <coroutine>
#include <exception>
#include <utility>

namespace couring {
namespace detail {

class detached_task {
 public:
  struct promise_type : promise_base {
    struct node_type : detached_node {
      std::coroutine_handle<promise_type> handle;
    };

    promise_type() noexcept : owner(scheduler::current()) {
      COURING_ASSERT(owner != nullptr, "spawn() outside a couring runtime thread");
      node.handle = std::coroutine_handle<promise_type>::from_promise(*this);
      node.destroy = [](detached_node& n) noexcept { static_cast<node_type&>(n).handle.destroy(); };
      owner->add_detached(node);
    }
    ~promise_type() { owner->remove_detached(node); }

    detached_task get_return_object() noexcept {
      return detached_task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_never final_suspend() noexcept { return {}; }  // frees itself when done
    void return_void() noexcept {}
    void unhandled_exception() noexcept { owner->report_unhandled(std::current_exception()); }

    scheduler* owner;
    node_type node;
    resume_item start;
  };

  explicit detached_task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}

  // Queues the first resumption; from then on the task owns itself.
  void start() noexcept {
    promise_type& p = handle_.promise();
    p.start.handle = handle_;
    p.owner->post(p.start);
  }

 private:
  std::coroutine_handle<promise_type> handle_;
};

template <class T>
detached_task run_detached(task<T> t) {
  (void)co_await std::move(t);
}
inline detached_task run_detached(task<void> t) { co_await std::move(t); }

}  // namespace detail

template <class T>
void spawn(task<T> t) {
  detail::run_detached(std::move(t)).start();
}

}  // namespace couring
