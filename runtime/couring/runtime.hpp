// runtime: picks a backend, owns the thread pool and the current thread's scheduler, and drives a
// task to completion with run(). When run() returns, nothing it started is left behind: pending
// ops are cancelled and awaited, suspended detached tasks are destroyed, no fd or frame leaks.
#pragma once

#include <couring/backend.hpp>
#include <couring/config.hpp>
#include <couring/resume_item.hpp>
#include <couring/scheduler.hpp>
#include <couring/task.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <string>
#include <utility>

namespace couring {

namespace pool {
class worker_pool;
}

namespace detail {

// The coroutine run() drives: it awaits the user's task and records how it ended.
class root_task {
 public:
  struct promise_type {
    bool done = false;
    std::exception_ptr error;
    root_task get_return_object() noexcept { return root_task(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept {
      done = true;
      return {};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };
  explicit root_task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  root_task(root_task&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  root_task(const root_task&) = delete;
  ~root_task() {
    if (handle_) handle_.destroy();
  }
  std::coroutine_handle<promise_type> handle() const noexcept { return handle_; }

 private:
  std::coroutine_handle<promise_type> handle_;
};

template <class T>
root_task drive(task<T> t, std::optional<T>& out) {
  out.emplace(co_await std::move(t));
}
inline root_task drive(task<void> t, std::optional<bool>& out) {
  co_await std::move(t);
  out.emplace(true);
}

}  // namespace detail

class runtime {
 public:
  // Chooses the backend (logging the choice once) and makes this thread's scheduler current.
  // Throws std::system_error if a forced backend cannot run here.
  explicit runtime(runtime_config config = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Runs `t` on this thread until it finishes, then shuts down what it left running. Returns its
  // value or rethrows its exception (or the first exception that escaped a detached task).
  template <class T>
  T run(task<T> t);

  // Any thread: makes run() stop early; the task being run gets cancelled like everything else.
  void stop() noexcept;

  backend_kind backend() const noexcept { return backend_->kind(); }
  // Why this backend runs: e.g. "io_uring_setup: Operation not permitted (denied by a seccomp
  // profile?)" after a fallback, or the ring's features when io_uring runs.
  const std::string& backend_reason() const noexcept { return reason_; }
  const backend_stats& stats() const noexcept { return backend_->stats(); }
  // A printable multi-line summary of stats().
  std::string format_stats() const;

  // The thread pool: its size, its queue bound, and the deepest the queue has been.
  struct pool_info {
    unsigned threads;
    std::size_t queue_capacity;
    std::size_t queue_high_water;
  };
  pool_info pool() const noexcept;

  scheduler& sched() noexcept { return scheduler_; }

 private:
  void drive_until_done(const bool& done);
  void shutdown() noexcept;

  runtime_config config_;
  scheduler scheduler_;
  std::unique_ptr<pool::worker_pool> workers_;
  std::unique_ptr<couring::backend> backend_;
  std::string reason_;
  scheduler_scope scope_;
  resume_item start_;
  struct stop_notice : work_item {
    explicit stop_notice(runtime* r) noexcept;
    runtime* self;
  } stop_notice_{this};
  std::atomic<bool> stop_posted_{false};
  bool stop_requested_ = false;
};

template <class T>
T runtime::run(task<T> t) {
  using stored = std::conditional_t<std::is_void_v<T>, bool, T>;
  std::optional<stored> out;
  detail::root_task root = detail::drive(std::move(t), out);
  start_.handle = root.handle();
  scheduler_.post(start_);
  drive_until_done(root.handle().promise().done);
  shutdown();
  if (std::exception_ptr fatal = scheduler_.take_fatal()) std::rethrow_exception(fatal);
  if (root.handle().promise().error) std::rethrow_exception(root.handle().promise().error);
  if (!out) throw std::system_error(std::make_error_code(std::errc::operation_canceled), "couring::runtime::run stopped");
  if constexpr (!std::is_void_v<T>) return std::move(*out);
}

// Runs a task on a fresh runtime on this thread: the usual way to start from main() or a test.
template <class T>
T run(task<T> t, runtime_config config = {}) {
  runtime rt(std::move(config));
  return rt.run(std::move(t));
}

template <class T>
T sync_wait(task<T> t) {
  return run(std::move(t));
}

}  // namespace couring
