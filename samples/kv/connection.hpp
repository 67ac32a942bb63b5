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

#include <chrono>
#include <cstddef>

namespace kv {

struct client_limits {
  resp::limits protocol;
  std::chrono::milliseconds timeout{300'000};  // no byte from a client for this long closes it; 0: never
  std::size_t max_query_buffer = 33 << 20;     // one client's bytes of commands not yet complete
};

// The memory that one shard's clients hold for commands not yet complete, beyond the first read's
// worth that each has while it waits. Used by the shard's thread only.
struct query_memory {
  std::size_t limit = 0;
  std::size_t used = 0;
};

couring::task<void> serve_connection(couring::tcp_stream conn, keyspace ks, const client_limits& l, query_memory& m);

}  // namespace kv
