// One client connection: commands in, replies out, in order. All complete commands found in a
// read are answered before the next read, and their replies leave in one send: that is what
// makes pipelining (redis-benchmark -P 16) fast.
#pragma once

#include "commands.hpp"
#include "resp.hpp"

#include <couring/socket.hpp>
#include <couring/task.hpp>

namespace kv {

couring::task<void> serve_connection(couring::tcp_stream conn, keyspace ks, const resp::limits& l);

}  // namespace kv
