// A server and its load in one process, each on its own shard: the load runs on the caller's
// shard and the server on the runtime's last one, so that on a two-CPU machine each gets a CPU,
// as two processes would, and yet one process (one backend choice, one seccomp filter) holds both.
#pragma once

#include "load_tally.hpp"

#include <couring/task.hpp>

namespace tour {

// Runs `server` on the last shard until `load` has finished here, then cancels the server and
// waits until every connection it accepted is closed. Throws if the server stops first (it
// failed), or if the load is still running at `give_up`: a stalled demo proves nothing, so it
// must end with an error rather than hang.
couring::task<void> serve_while(couring::task<void> server, couring::task<void> load, clock_type::time_point give_up);

}  // namespace tour
