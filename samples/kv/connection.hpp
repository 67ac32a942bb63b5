// One client connection: commands in, replies out, in order. All complete commands found in a
// read are answered before the next read, and their replies leave in one send: that is what
// makes pipelining (redis-benchmark -P 16) fast.
//
// What a client may hold is bounded, as Redis bounds it: the bytes of commands not yet complete
// (--max-query-buffer, Redis's client-query-buffer-limit), and the shard's clients together
// (--max-query-memory, like Redis's maxmemory-clients); a client that idles longer than
// --timeout is closed (Redis's timeout).
#pragma once

#include "commands.hpp"
#include "resp.hpp"

#include <couring/socket.hpp>
#include <couring/task.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>

namespace kv {

struct client_limits {
  resp::limits protocol;
  std::chrono::milliseconds timeout{300'000};  // no byte from a client for this long closes it; 0: never
  std::size_t max_query_buffer = 33 << 20;     // one client's bytes of commands not yet complete
};

// The memory that all clients, on every shard, hold for commands not yet complete, beyond the
// first read's worth that each has while it waits. One counter for the whole server rather than a
// share per shard, so that a command as big as --max-query-buffer fits however many shards run.
class query_memory {
 public:
  explicit query_memory(std::size_t limit) : limit_(limit) {}
  // Counts `more` bytes if they fit under the limit.
  bool try_take(std::size_t more) noexcept {
    // Relaxed: the counter only counts; no other data is published through it.
    std::size_t now = used_.load(std::memory_order_relaxed);
    do {
      if (now + more > limit_) return false;
    } while (!used_.compare_exchange_weak(now, now + more, std::memory_order_relaxed));
    return true;
  }
  void give_back(std::size_t less) noexcept { used_.fetch_sub(less, std::memory_order_relaxed); }

 private:
  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

couring::task<void> serve_connection(couring::tcp_stream conn, keyspace ks, const client_limits& l, query_memory& m);

}  // namespace kv
