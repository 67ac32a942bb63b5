// The echo workload: an echo server and closed-loop clients over loopback, each client sending a
// message, reading exactly as many bytes back, checking them, and starting over until the end.
#pragma once

#include "load_tally.hpp"

#include <couring/task.hpp>

#include <cstddef>

namespace tour {

struct echo_workload {
  int connections = 16;
  std::size_t message_bytes = 512;
  clock_type::duration duration{};
};

couring::task<load_tally> run_echo_workload(const echo_workload& w);

}  // namespace tour
