// runtime: picks a backend per shard, owns the thread pool and the shards, and drives a task to
// completion with run(). Shard 0 is the thread that constructs the runtime and calls run(); the
// other shards are threads of the runtime. When run() returns, nothing it started is left behind
// on any shard: pending ops are cancelled and awaited, suspended detached tasks are destroyed, no
// fd or frame leaks.
#pragma once

#include <couring/backend_info.hpp>
#include <couring/config.hpp>
#include <couring/resume_item.hpp>
#include <couring/scheduler.hpp>
#include <couring/task.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace couring {

class shard;

struct backend_options;
namespace emulation {
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
  // Starts the shards (choosing each one's backend, logging the choice once) and makes shard 0's
  // scheduler current on this thread. Throws std::system_error if a forced backend cannot run
  // here, std::invalid_argument for a bad environment override.
  explicit runtime(runtime_config config = {});
  // Stops the other shards' threads. Must run on the thread that constructed the runtime.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Runs `t` on shard 0 (this thread) until it finishes, then shuts down what it left running
  // on every shard. Returns its value or rethrows its exception (or the first exception that
  // escaped a detached task on any shard).
  template <class T>
  T run(task<T> t);

  // Any thread: makes run() stop early; the task being run gets cancelled like everything else.
  void stop() noexcept;

  // The runtime whose shard runs on the calling thread; nullptr elsewhere.
  static runtime* current() noexcept;

  unsigned shards() const noexcept { return static_cast<unsigned>(directory_.size()); }

  // Shard 0's backend, and why it was chosen: e.g. "io_uring unavailable (io_uring_setup:
  // Operation not permitted — denied by a seccomp profile?)". Every shard chooses the same way.
  backend_kind backend() const noexcept;
  const std::string& backend_reason() const noexcept;
  // Whether shard 0's backend hands this request kind (a `request` index) to the kernel as such,
  // rather than emulating it (the thread pool: never).
  bool native(std::size_t request_index) const noexcept;

  // What shard `index` counted (any thread may ask): ops submitted, completed and emulated per
  // request kind, kernel entries, CQ overflows, ops parked for pool room.
  backend_stats stats(unsigned index = 0) const;
  // Loop figures of shard `index`: ops in flight, loop iterations, cross-thread wakeups.
  struct loop_info {
    std::size_t ops_in_flight;
    std::uint64_t iterations;
    std::uint64_t wakeups;
  };
  loop_info loop(unsigned index = 0) const;
  // A printable multi-line summary of every shard's statistics.
  std::string format_stats() const;

  // The thread pool: its size (the most workers it starts), the workers alive now, its queue
  // bound, and the deepest the queue has been.
  struct pool_info {
    unsigned threads;
    unsigned started;
    std::size_t queue_capacity;
    std::size_t queue_high_water;
  };
  pool_info pool() const noexcept;

  scheduler& sched() noexcept;  // shard 0's

 private:
  struct remote_shard;

  void shutdown() noexcept;
  void run_phase(int phase) noexcept;
  void stop_remote_shards() noexcept;

  runtime_config config_;
  std::unique_ptr<backend_options> backend_options_;  // what every shard's backend selection takes
  std::unique_ptr<emulation::worker_pool> workers_;
  std::vector<scheduler*> directory_;  // every shard's scheduler, by index
  std::unique_ptr<shard> local_;       // shard 0, on this thread
  std::vector<std::unique_ptr<remote_shard>> remote_;
  unsigned acks_ = 0;     // shard 0 only: remote shards that finished the current phase
  bool phase_done_ = false;
  resume_item start_;
  struct stop_notice : work_item {
    explicit stop_notice(runtime* r) noexcept;
    runtime* self;
  } stop_notice_{this};
  std::atomic<bool> stop_posted_{false};
};

template <class T>
T runtime::run(task<T> t) {
  using stored = std::conditional_t<std::is_void_v<T>, bool, T>;
  std::optional<stored> out;
  detail::root_task root = detail::drive(std::move(t), out);
  start_.handle = root.handle();
  sched().post(start_);
  sched().run_until(root.handle().promise().done);
  shutdown();
  if (std::exception_ptr fatal = sched().take_fatal()) std::rethrow_exception(fatal);
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
