// A server and its load in one process, each on its own shard: the load runs on the caller's
// shard and the server on the runtime's last one, so that on a two-CPU machine each gets a CPU,
// as two processes would, and yet one process (one backend choice, one seccomp filter) holds both.
#pragma once

#include "load_tally.hpp"

#include <couring/couring.hpp>

#include <utility>

namespace tour {

// The server side of a workload: accepts connections until cancelled and runs `handle(conn)` (a
// task<void>) for each. The connections live in a group tied to this loop, so cancelling the loop
// (serve_while does, when the load is over) cancels them and waits until each has closed.
template <class Handler>
couring::task<void> accept_connections(couring::tcp_listener listener, Handler handle) {
  couring::task_group connections(co_await couring::current_stop_token());
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) break;  // cancelled: the load is over
    (void)conn->set_nodelay(true);  // a reply's last segment must not wait for an ACK
    connections.spawn(handle(std::move(*conn)));
  }
  co_await connections.join();
}

// Runs `server` on the last shard until `load` has finished here, then cancels the server and
// waits until every connection it accepted is closed. Throws if the server stops first (it
// failed), or if the load is still running at `give_up`: a stalled demo proves nothing, so it
// must end with an error rather than hang.
couring::task<void> serve_while(couring::task<void> server, couring::task<void> load, clock_type::time_point give_up);

}  // namespace tour
