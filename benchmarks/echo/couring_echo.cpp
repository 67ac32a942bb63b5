// couring_echo: the echo server of the benchmark, written on couring's fast paths. One multishot
// accept serves every connection (accept_stream), and each connection is one multishot recv that
// the kernel fills from a shared provided-buffer ring (recv_stream over a buffer_pool): one SQE per
// connection instead of one per message, and no buffer owned by an idle connection. On the
// thread-pool backend the same code runs on the emulation (epoll readiness, one recv at a time).
//
//   couring_echo --port P [--backend io_uring|thread_pool] [--buffers N] [--buffer-size BYTES] [--shards N]
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
#include <couring/on_shard.hpp>
#include <couring/recv_stream.hpp>
#include <couring/runtime.hpp>
#include <couring/socket.hpp>
#include <couring/spawn.hpp>
#include <couring/task.hpp>
#include <couring/when_all.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

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

couring::task<void> serve_on(unsigned shard, couring::tcp_listener listener, unsigned buffers, std::size_t buffer_size) {
  co_await couring::submit_to(shard, serve(std::move(listener), buffers, buffer_size));
}

couring::task<void> serve_everywhere(std::vector<couring::tcp_listener> listeners, unsigned buffers,
                                     std::size_t buffer_size) {
  std::vector<couring::task<void>> shards;
  for (unsigned k = 0; k < listeners.size(); ++k)
    shards.push_back(serve_on(k, std::move(listeners[k]), buffers, buffer_size));
  co_await couring::when_all(std::move(shards));
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--port P] [--backend io_uring|thread_pool] [--buffers N] [--buffer-size BYTES] [--shards N]");
  auto port = static_cast<std::uint16_t>(a.number("port", 7000));
  // Shared by every connection: with the closed-loop client each connection holds at most one
  // buffer at a time, so 1024 cover the largest benchmark, and a buffer is far larger than a message.
  auto buffers = static_cast<unsigned>(a.number("buffers", 1024));
  auto buffer_size = static_cast<std::size_t>(a.number("buffer-size", 2048));
  bench::raise_nofile_limit(16384);

  // One shard unless asked (the echo suite gives the server one CPU); the shards suite compares
  // 1 and 2, each shard with its own SO_REUSEPORT listener, multishot accept and buffer pool.
  auto shards = static_cast<unsigned>(a.number("shards", 1));
  couring::runtime_config config = bench::config_from(a);
  config.shards = shards;
  couring::runtime rt(config);
  couring::listen_options listen;
  listen.backlog = 4096;  // 1000 connections arrive at once
  listen.reuse_port = shards > 1;
  std::vector<couring::tcp_listener> listeners;
  for (unsigned k = 0; k < rt.shards(); ++k) {
    auto listener = couring::tcp_listener::bind(couring::endpoint::loopback_v4(port), listen);
    if (!listener) {
      std::fprintf(stderr, "couring_echo: bind: %s\n", listener.error().message().c_str());
      return 1;
    }
    listeners.push_back(std::move(*listener));
  }
  bench::report().add("backend", couring::backend_name(rt.backend())).add("shards", std::uint64_t{rt.shards()}).print();
  std::fflush(stdout);
  rt.run(serve_everywhere(std::move(listeners), buffers, buffer_size));
}
