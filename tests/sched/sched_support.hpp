// Helpers the sched tests share. Catch2 is not thread-safe: tests assert only on shard 0 (the
// thread that calls run()); work on other shards records what it saw and shard 0 checks it.
#pragma once

#include <couring/couring.hpp>

#include <coroutine>
#include <utility>

namespace couring::testing {

inline runtime_config with_shards(unsigned n, bool msg_ring_wakeups = true) {
  runtime_config c;
  c.shards = n;
  c.uring_msg_ring_wakeups = msg_ring_wakeups;
  return c;
}

// Lets everything that is ready on this shard run `rounds` times: a task spawned before the call
// has reached its first suspension when the call returns.
inline task<void> settle(int rounds = 3) {
  for (int i = 0; i < rounds; ++i) co_await yield();
}

// Spawns `t` on the current shard and returns once it has run up to its first suspension; via
// on_shard(k, ...) it does the same on shard k.
inline task<void> start_here(task<void> t) {
  spawn(std::move(t));
  co_await settle(1);
}

// A task frame the test starts and destroys by hand, as runtime shutdown destroys a suspended task.
class manual_frame {
 public:
  explicit manual_frame(task<void> t) noexcept : handle_(t.release()) {}
  manual_frame(const manual_frame&) = delete;
  manual_frame& operator=(const manual_frame&) = delete;
  ~manual_frame() { destroy(); }

  void start() { handle_.resume(); }  // runs it to its first suspension
  bool done() const noexcept { return handle_ && handle_.done(); }
  void destroy() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

 private:
  std::coroutine_handle<> handle_;
};

}  // namespace couring::testing
