// couring-echo: a TCP echo server. Every byte a client sends comes back to it.
//
//   couring-echo --port 7000 [--address ::1] [--reuse-port] [--shards N] [--backend auto|io_uring|thread_pool]
//
// One coroutine per connection, one SO_REUSEPORT listener per shard (common/server.hpp), and the
// connections of a shard in a task_group, so that stopping the server cancels and awaits them.
#include "../common/command_line.hpp"
#include "../common/server.hpp"

#include <couring/couring.hpp>

#include <array>
#include <string>

using namespace couring;

namespace {

constexpr std::string_view usage =
    "usage: couring-echo [--port P] [--address ADDR] [--reuse-port] [--shards N]\n"
    "                    [--backend auto|io_uring|thread_pool]\n"
    "  --port P        TCP port (default 7000; 0 picks a free one, shown on the startup line)\n"
    "  --address ADDR  address to listen on (default: every IPv6 and IPv4 address)\n"
    "  --reuse-port    share the port with other processes (SO_REUSEPORT); else a busy port is an error\n"
    "  --shards N      threads, each with its own listener (default 1; 0: one per CPU)\n";

task<void> echo(tcp_stream conn) {
  // Lives in the coroutine frame: no allocation per message.
  std::array<std::byte, 16 * 1024> buf;
  for (;;) {
    auto n = co_await conn.recv(buffer(buf));
    if (!n || *n == 0) co_return;  // an error, the client's EOF, or the server stopping
    auto sent = co_await send_all(conn.fd(), buffer(buf.data(), *n));
    if (!sent) co_return;
  }
}

// One per shard. The group ties every connection's lifetime to this loop: when the loop is
// cancelled, so are they, and join() waits until each has closed its socket.
task<void> serve(tcp_listener listener) {
  task_group connections(co_await current_stop_token());
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) {
      bool go_on = co_await samples::keep_accepting(conn.error());
      if (!go_on) break;
      continue;
    }
    (void)conn->set_nodelay(true);  // replies are small and must not wait for Nagle
    connections.spawn(echo(std::move(*conn)));
  }
  co_await connections.join();
}

}  // namespace

int main(int argc, char** argv) {
  samples::runtime_options opts;
  samples::listen_settings listen;
  listen.port = 7000;
  for (samples::command_line cl(argc, argv, usage); cl.next();)
    if (!cl.runtime_flag(opts) && !samples::listen_flag(cl, listen)) cl.unknown();
  return samples::run_main(opts, samples::serve_until_signal(listen, &serve));
}
