// couring_echo: the echo server of the benchmark, written on couring's fast paths. One multishot
// accept serves every connection (accept_stream), and each connection is one multishot recv that
// the kernel fills from a shared provided-buffer ring (recv_stream over a buffer_pool): one SQE per
// connection instead of one per message, and no buffer owned by an idle connection. On the
// thread-pool backend the same code runs on the emulation (epoll readiness, one recv at a time).
//
//   couring_echo --port P [--backend io_uring|thread_pool] [--buffers N] [--buffer-size BYTES]
//
// Prints {"backend": ...} once it listens, then serves until killed (the runner's harness sends
// SIGTERM), as a server under load would.
#include "../common/args.hpp"
#include "../common/backend_option.hpp"
#include "../common/nofile_limit.hpp"
#include "../common/report.hpp"

#include <couring/accept_stream.hpp>
#include <couring/buffer_pool.hpp>
#include <couring/endpoint.hpp>
#include <couring/recv_stream.hpp>
#include <couring/runtime.hpp>
#include <couring/socket.hpp>
#include <couring/spawn.hpp>
#include <couring/task.hpp>

#include <cstdio>
#include <cstdlib>

namespace {

couring::task<void> echo(couring::tcp_stream conn, couring::buffer_pool& pool) {
  couring::recv_stream incoming(conn, pool);
  for (;;) {
    auto chunk = co_await incoming.next();
    if (!chunk) co_return;  // the client's EOF or reset
    couring::const_buffer left = chunk->bytes();
    while (left.size() > 0) {
      auto sent = co_await conn.send(left);
      if (!sent) co_return;
      left = couring::const_buffer(left.data() + *sent, left.size() - *sent);
    }
    // `chunk` goes here: its buffer returns to the ring before the next message can arrive.
  }
}

couring::task<void> serve(couring::tcp_listener listener, unsigned buffers, std::size_t buffer_size) {
  couring::buffer_pool pool(buffers, buffer_size);
  couring::accept_stream incoming(listener);
  for (;;) {
    auto conn = co_await incoming.next();
    if (!conn) {
      if (conn.error() == std::errc::operation_canceled) break;
      continue;  // EMFILE and the like: reported per connection, accepting goes on
    }
    (void)conn->set_nodelay(true);  // one small reply per request: never wait for Nagle
    couring::spawn(echo(std::move(*conn), pool));
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv);
  auto port = static_cast<std::uint16_t>(a.number("port", 7000));
  // Shared by every connection: with the closed-loop client each connection holds at most one
  // buffer at a time, so 1024 cover the largest benchmark, and a buffer is far larger than a message.
  auto buffers = static_cast<unsigned>(a.number("buffers", 1024));
  auto buffer_size = static_cast<std::size_t>(a.number("buffer-size", 2048));
  bench::raise_nofile_limit(16384);

  couring::runtime_config config = bench::config_from(a);
  config.shards = 1;  // the benchmark gives the server one CPU
  couring::runtime rt(config);
  couring::listen_options listen;
  listen.backlog = 4096;  // 1000 connections arrive at once
  auto listener = couring::tcp_listener::bind(couring::endpoint::loopback_v4(port), listen);
  if (!listener) {
    std::fprintf(stderr, "couring_echo: bind: %s\n", listener.error().message().c_str());
    return 1;
  }
  bench::report().add("backend", couring::backend_name(rt.backend())).print();
  std::fflush(stdout);
  rt.run(serve(std::move(*listener), buffers, buffer_size));
}
