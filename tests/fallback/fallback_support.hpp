// Helpers of the fallback suite: waiting for spawned tasks, running a check in a forked child
// (seccomp filters and environment changes must not leak into the test process), scoped
// environment variables, and a worker that stays busy until the test lets it go.
#pragma once

#include <couring/couring.hpp>

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace couring::testing {

// Counts events on the loop thread; a coroutine may await a count being reached. The waiter is
// resumed through the scheduler (posted), never from inside increment().
class counter {
 public:
  void increment() noexcept;
  std::size_t value() const noexcept { return value_; }

  class [[nodiscard]] awaiter {
   public:
    awaiter(counter& c, std::size_t target) noexcept : c_(c), target_(target) {}
    bool await_ready() const noexcept { return c_.value_ >= target_; }
    void await_suspend(std::coroutine_handle<> h) noexcept;
    void await_resume() const noexcept {}

   private:
    counter& c_;
    std::size_t target_;
  };
  // Resumes once value() >= target. One waiter at a time.
  awaiter at_least(std::size_t target) noexcept { return {*this, target}; }

 private:
  std::size_t value_ = 0;
  std::size_t target_ = 0;
  bool waiting_ = false;
  resume_item item_;
};

// What one awaited op did: how often its coroutine resumed (exactly once, always), and its
// result as the backends report it (a value >= 0, or -errno).
struct op_record {
  int resumed = 0;
  long long res = 0;
};

template <class T>
long long code_of(const result<T>& r) noexcept {
  if (!r) return -static_cast<long long>(r.error().value());
  if constexpr (std::is_integral_v<T>) return static_cast<long long>(*r);
  else return 0;
}

struct record_options {
  stop_token token{};                      // observed by the op (none: not cancellable)
  std::optional<io_priority> priority{};   // none: the default
  std::vector<int>* order = nullptr;       // where `id` is appended when the op resumes
  int id = 0;
};

// Awaits the op `make()` returns, with the options applied, and writes down what happened.
// `make` builds the awaitable inside this frame (awaitables never move).
template <class Make>
task<void> record(Make make, record_options o, op_record* out, counter* done) {
  if (o.priority) {
    auto r = co_await make().with_token(o.token).with_priority(*o.priority);
    out->res = code_of(r);
  } else {
    auto r = co_await make().with_token(o.token);
    out->res = code_of(r);
  }
  ++out->resumed;
  if (o.order) o.order->push_back(o.id);
  if (done) done->increment();
}

// Sets (or with nullptr unsets) an environment variable for the scope, restoring it afterwards.
// Only while no runtime (no worker thread) exists: setenv is not thread-safe.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value);
  ~scoped_env();
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

// Collects failed expectations in a forked child, where Catch2 cannot report them.
class expectations {
 public:
  void check(bool ok, const std::string& what);
  void contains(const std::string& text, const std::string& part, const std::string& what);
  const std::string& failures() const noexcept { return failures_; }

 private:
  std::string failures_;
};

struct child_outcome {
  bool exited = false;   // false: killed by a signal
  int status = -1;       // exit status, or the signal number
  std::string report;    // what the child function returned (empty: every expectation held)
};

// Runs `fn` in a forked child and returns what it reported. `fn` returns an empty string when
// every expectation held; exceptions are reported as failures. The calling process must not be
// running a runtime (its worker threads would not exist in the child).
child_outcome in_child(const std::function<std::string()>& fn);

// Runs `argv` in a forked child with `env` added ("NAME=value"; "NAME=" with no value unsets it)
// and, if deny_errno is not 0, io_uring denied by seccomp first. Returns the exit status and
// everything the program wrote to stdout and stderr.
struct program_outcome {
  bool exited = false;
  int status = -1;
  std::string output;
};
program_outcome run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                            int deny_errno = 0);

// Captures what this process writes to stderr (fd 2) for the scope. Meant for forked children.
class stderr_capture {
 public:
  stderr_capture();
  ~stderr_capture();
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;
  // Restores stderr and returns everything written meanwhile.
  std::string finish();

 private:
  int saved_ = -1;
  int read_end_ = -1;
  bool finished_ = false;
  std::string captured_;
};

// The path of the running test binary.
std::string self_exe();

// Lines of `text` (without their newlines).
std::vector<std::string> lines_of(const std::string& text);

// A connected AF_UNIX stream pair whose receiving end a worker can block on: recv with
// MSG_WAITALL is routed to a worker on the thread pool (exec.cpp) and returns only once `size`
// bytes have arrived, so it occupies that worker until release() sends them.
class worker_blocker {
 public:
  static constexpr std::size_t size = 4;

  worker_blocker();
  // The op that occupies a worker: completes with `size` once released.
  size_awaitable hold() noexcept;
  // Sends the bytes the held recv waits for (synchronously: the socket has room).
  void release();
  // Bytes sent but not yet taken by the receiving end; 0 once a worker's recv consumed them.
  std::size_t unread() const;
  // Sends `n` bytes without completing the recv (n < size): a test of "is it running?".
  void send_some(std::size_t n);

  int receiver() const noexcept { return receiver_.get(); }
  int sender() const noexcept { return sender_.get(); }

 private:
  unique_fd receiver_;
  unique_fd sender_;
  std::array<char, size> buf_{};
  std::size_t sent_ = 0;
};

// Raises RLIMIT_NOFILE to at least `wanted` (root may raise the hard limit). Returns "" on
// success, else why it is impossible.
std::string raise_fd_limit(std::uint64_t wanted);

}  // namespace couring::testing
