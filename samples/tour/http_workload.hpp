// The HTTP workload: the couring-http sample's connection handler (samples/http) serving one file
// from a directory, and keep-alive clients GETting it in a closed loop, checking the status, the
// Content-Length and every byte of every body.
#pragma once

#include "load_tally.hpp"

#include <couring/task.hpp>

#include <cstddef>
#include <string>

namespace tour {

struct http_workload {
  std::string root;                    // an empty directory; the served file is written into it
  std::size_t body_bytes = 64u << 10;  // above 16 KiB the server sends it with send_file (splice)
  int connections = 16;
  clock_type::duration duration{};
};

couring::task<load_tally> run_http_workload(const http_workload& w);

}  // namespace tour
