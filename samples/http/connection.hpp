// One HTTP/1.x connection: read requests (several may arrive in one read: pipelining), answer
// each in order, keep the connection while both sides want to, and give up on clients that are
// too slow to send their headers or to take their response.
#pragma once

#include "request.hpp"

#include <couring/socket.hpp>
#include <couring/task.hpp>

#include <chrono>

namespace http {

struct site {
  int root_fd = -1;  // the document root, opened once; every file is opened beneath it
  // A request's whole head must arrive within this time of the server starting to wait for it,
  // however the bytes trickle in (slowloris); it also bounds how long a keep-alive connection idles.
  std::chrono::milliseconds header_timeout{10'000};
  // A response must be taken by the client within this time.
  std::chrono::milliseconds send_timeout{60'000};
  limits head_limits;
  bool dotfiles = false;  // serve files and directories whose name starts with a dot (decode_path)
};

couring::task<void> serve_connection(couring::tcp_stream conn, const site& s);

}  // namespace http
