// couring-kv: a key-value server that speaks the Redis protocol (RESP2), enough for redis-cli and
// redis-benchmark. It keeps its data in memory only: nothing is written to disk, and everything
// is gone when it stops.
//
//   couring-kv [--port 6379] [--address ADDR] [--reuse-port] [--shards N] [--max-clients N]
//              [--timeout SECONDS] [--max-bulk BYTES] [--max-query-buffer BYTES]
//              [--max-query-memory BYTES] [--backend auto|io_uring|thread_pool]
//
// PING ECHO GET SET (EX PX NX XX GET KEEPTTL) DEL EXISTS INCR DECR INCRBY DECRBY EXPIRE PEXPIRE
// TTL PTTL DBSIZE FLUSHALL FLUSHDB CONFIG GET (empty) COMMAND (minimal) SELECT 0 QUIT.
//
// The files: resp.cpp speaks the protocol, store.cpp keeps one shard's keys, commands.cpp runs
// commands (on the shard that owns the key), connection.cpp runs one client, this file the
// listeners, the client limit and the expiry sweeper.
#include "../common/command_line.hpp"
#include "../common/server.hpp"
#include "connection.hpp"

#include <couring/couring.hpp>

#include <fmt/core.h>

#include <sys/resource.h>

#include <string>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view usage =
    "usage: couring-kv [--port P] [--address ADDR] [--reuse-port] [--shards N] [--max-clients N] [--timeout S]\n"
    "                  [--max-bulk BYTES] [--max-query-buffer BYTES] [--max-query-memory BYTES]\n"
    "                  [--backend auto|io_uring|thread_pool]\n"
    "  --port P                 TCP port (default 6379; 0 picks a free one, shown on the startup line)\n"
    "  --address ADDR           address to listen on (default: every IPv6 and IPv4 address)\n"
    "  --reuse-port             share the port with other processes (SO_REUSEPORT); else a busy port is an error\n"
    "  --shards N               threads, each owning a share of the keys (default 1; 0: one per CPU)\n"
    "  --max-clients N          clients connected at once; more are answered an error (default 10000,\n"
    "                           lowered to fit the descriptor limit)\n"
    "  --timeout S              close a client idle for S seconds (default 300; 0: never)\n"
    "  --max-bulk BYTES         longest argument accepted (default 16 MiB)\n"
    "  --max-query-buffer BYTES a client's bytes of a command not yet complete (default 2 x max-bulk + 1 MiB)\n"
    "  --max-query-memory BYTES the same, for all clients together (default 256 MiB)\n";

constexpr std::size_t reserved_fds = 32;  // for everything but clients (Redis keeps as many)

// Active expiry, ten times a second for at most a millisecond (store.hpp): keys that expire but
// are never read again would otherwise stay for ever.
task<void> sweep_expired(kv::store& s) {
  for (;;) {
    auto slept = co_await sleep_for(100ms);
    if (!slept) co_return;  // cancelled: the server is stopping
    s.remove_some_expired(1ms);
  }
}

struct settings {
  kv::client_limits limits;
  std::size_t max_clients = 10'000;
  std::size_t max_query_memory = 256 << 20;
};

task<void> serve(kv::keyspace ks, const settings& s, kv::query_memory& memory, tcp_listener listener) {
  // This shard's share of the clients: the kernel spreads connections evenly over the shards.
  std::size_t max_clients = (s.max_clients + shard_count() - 1) / shard_count();
  task_group clients(co_await current_stop_token()), parting(co_await current_stop_token());
  clients.spawn(sweep_expired((*ks.shards)[this_shard()]));
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) {
      bool go_on = co_await samples::keep_accepting(conn.error());
      if (!go_on) break;
      continue;
    }
    if (clients.running() > max_clients) {  // the sweeper is one of them
      samples::turn_away(parting, std::move(*conn), "-ERR max number of clients reached\r\n");
      continue;
    }
    (void)conn->set_nodelay(true);
    clients.spawn(kv::serve_connection(std::move(*conn), ks, s.limits, memory));  // joined below
  }
  clients.cancel();  // the sweeper never ends by itself
  co_await clients.join();
  co_await parting.join();
}

struct server {
  kv::keyspace ks;
  const settings* s;
  kv::query_memory* memory;
  task<void> operator()(tcp_listener listener) const { return serve(ks, *s, *memory, std::move(listener)); }
};

// The stores and the memory count live here, in the main task, for as long as any shard serves.
task<int> kv_main(samples::listen_settings listen, settings s) {
  std::vector<kv::store> stores(shard_count());
  kv::query_memory memory(s.max_query_memory);
  co_return co_await samples::serve_until_signal(listen, server{kv::keyspace{&stores}, &s, &memory});
}

}  // namespace

int main(int argc, char** argv) {
  samples::runtime_options opts;
  samples::listen_settings listen;
  listen.port = 6379;
  settings s;
  std::int64_t max_query_buffer = -1;
  samples::command_line cl(argc, argv, usage);
  while (cl.next()) {
    if (cl.runtime_flag(opts) || samples::listen_flag(cl, listen)) continue;
    if (cl.is("--max-clients")) s.max_clients = static_cast<std::size_t>(cl.number(1, 1'000'000));
    else if (cl.is("--timeout")) s.limits.timeout = std::chrono::seconds(cl.number(0, 365 * 24 * 3600));
    else if (cl.is("--max-bulk")) s.limits.protocol.max_bulk = static_cast<std::size_t>(cl.number(1, 1 << 30));
    else if (cl.is("--max-query-buffer")) max_query_buffer = cl.number(1024, std::int64_t{1} << 32);
    else if (cl.is("--max-query-memory"))
      s.max_query_memory = static_cast<std::size_t>(cl.number(1 << 20, std::int64_t{1} << 40));
    else cl.unknown();
  }
  // A command of two of the longest arguments, and room for small ones.
  s.limits.max_query_buffer = max_query_buffer > 0 ? static_cast<std::size_t>(max_query_buffer)
                                                   : 2 * s.limits.protocol.max_bulk + (1 << 20);
  // Like Redis, fewer clients than asked where the descriptor limit could not hold them all.
  if (rlimit r{}; ::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY &&
      r.rlim_cur < s.max_clients + reserved_fds) {
    std::size_t fit = r.rlim_cur > 2 * reserved_fds ? r.rlim_cur - reserved_fds : r.rlim_cur / 2;
    fmt::print(stderr, "{}: --max-clients {} lowered to {}: the descriptor limit (ulimit -n) is {}\n",
               samples::program_name(), s.max_clients, fit, r.rlim_cur);
    s.max_clients = fit;
  }
  return samples::run_main(opts, kv_main(listen, s));
}
