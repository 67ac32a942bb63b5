// couring-http: a static file server for HTTP/1.0 and HTTP/1.1.
//
//   couring-http --root DIR [--port 8080] [--address ADDR] [--reuse-port] [--shards N] [--max-connections N]
//                [--header-timeout SECONDS] [--send-timeout SECONDS] [--dotfiles]
//                [--backend auto|io_uring|thread_pool]
//
// GET and HEAD, keep-alive and pipelining, Content-Type by extension, Last-Modified and
// If-Modified-Since (304), single byte ranges (206, 416), index.html for directories; files whose
// names start with a dot only with --dotfiles. File bodies go out with send_file: spliced inside
// the kernel on io_uring, copied through a buffer on the thread pool. Every file is opened
// beneath the root by the kernel's own rules (http/resolve.hpp).
//
// The files: request.cpp parses, resolve.cpp maps a target to a file, response.cpp and range.cpp
// build answers, connection.cpp runs one connection, and this file the listeners.
#include "../common/command_line.hpp"
#include "../common/server.hpp"
#include "connection.hpp"
#include "response.hpp"

#include <couring/couring.hpp>

#include <fcntl.h>

#include <string>

using namespace couring;

namespace {

constexpr std::string_view usage =
    "usage: couring-http --root DIR [--port P] [--address ADDR] [--reuse-port] [--shards N] [--max-connections N]\n"
    "                    [--header-timeout SECONDS] [--send-timeout SECONDS] [--dotfiles]\n"
    "                    [--backend auto|io_uring|thread_pool]\n"
    "  --root DIR              the directory to serve\n"
    "  --port P                TCP port (default 8080; 0 picks a free one, shown on the startup line)\n"
    "  --address ADDR          address to listen on (default: every IPv6 and IPv4 address)\n"
    "  --reuse-port            share the port with other processes (SO_REUSEPORT); else a busy port is an error\n"
    "  --shards N              threads, each with its own listener (default 1; 0: one per CPU)\n"
    "  --max-connections N     open connections at most; more are answered 503 (default 1024)\n"
    "  --header-timeout S      a request's head must arrive within S seconds (default 10)\n"
    "  --send-timeout S        a response must be taken within S seconds (default 60)\n"
    "  --dotfiles              serve files and directories whose name starts with a dot (.env, .git/);\n"
    "                          without it they are 404, except /.well-known/\n";

// One shard's server: its own copy of the site, its share of the connection limit.
task<void> serve(http::site s, std::size_t max_connections, tcp_listener listener) {
  std::size_t limit = (max_connections + shard_count() - 1) / shard_count();
  task_group connections(co_await current_stop_token()), parting(co_await current_stop_token());
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) {
      bool go_on = co_await samples::keep_accepting(conn.error());
      if (!go_on) break;
      continue;
    }
    if (connections.running() >= limit) {
      // A 503 at once instead of a wait in the backlog: the client learns the server is busy,
      // and nobody can hold more than the limit open.
      samples::turn_away(parting, std::move(*conn), http::simple_response(503, false, 1, false));
      continue;
    }
    (void)conn->set_nodelay(true);  // a response's last segment must not wait for an ACK
    connections.spawn(http::serve_connection(std::move(*conn), s));  // s outlives them: joined below
  }
  co_await connections.join();
  co_await parting.join();
}

struct server {
  http::site s;
  std::size_t max_connections;
  task<void> operator()(tcp_listener l) const { return serve(s, max_connections, std::move(l)); }
};

}  // namespace

int main(int argc, char** argv) {
  samples::runtime_options opts;
  std::string root;
  samples::listen_settings listen;
  listen.port = 8080;
  std::size_t max_connections = 1024;
  http::site site;
  samples::command_line cl(argc, argv, usage);
  while (cl.next()) {
    if (cl.runtime_flag(opts) || samples::listen_flag(cl, listen)) continue;
    if (cl.is("--root")) root = cl.value();
    else if (cl.is("--dotfiles")) site.dotfiles = true;
    else if (cl.is("--max-connections")) max_connections = static_cast<std::size_t>(cl.number(1, 1'000'000));
    else if (cl.is("--header-timeout"))
      site.header_timeout = std::chrono::milliseconds(static_cast<long>(cl.decimal(0.01, 3600) * 1000));
    else if (cl.is("--send-timeout"))
      site.send_timeout = std::chrono::milliseconds(static_cast<long>(cl.decimal(0.01, 3600) * 1000));
    else cl.unknown();
  }
  if (root.empty()) cl.fail("--root is required");
  // Opened once, before anything else: every request resolves beneath this descriptor, so
  // renaming or replacing the root's path later changes nothing.
  unique_fd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) cl.fail("--root " + root + ": " + std::error_code(errno, std::system_category()).message());
  site.root_fd = root_fd.get();

  server srv{site, max_connections};
  return samples::run_main(opts, samples::serve_until_signal(listen, srv, ", serving " + root));
}
