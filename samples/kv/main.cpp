// couring-kv: an in-memory key-value server that speaks the Redis protocol (RESP2), enough for
// redis-cli and redis-benchmark.
//
//   couring-kv [--port 6379] [--address ADDR] [--reuse-port] [--shards N] [--max-bulk BYTES]
//              [--backend auto|io_uring|thread_pool]
//
// PING ECHO GET SET (EX PX NX XX GET KEEPTTL) DEL EXISTS INCR DECR INCRBY DECRBY EXPIRE PEXPIRE
// TTL PTTL DBSIZE FLUSHALL FLUSHDB CONFIG GET (empty) COMMAND (minimal) SELECT 0 QUIT.
//
// The files: resp.cpp speaks the protocol, store.cpp keeps one shard's keys, commands.cpp runs
// commands (on the shard that owns the key), connection.cpp runs one client, this file the
// listeners and the expiry sweeper.
#include "../common/command_line.hpp"
#include "../common/server.hpp"
#include "connection.hpp"

#include <couring/couring.hpp>

#include <string>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view usage =
    "usage: couring-kv [--port P] [--address ADDR] [--reuse-port] [--shards N] [--max-bulk BYTES] [--backend auto|io_uring|thread_pool]\n"
    "  --port P          TCP port (default 6379; 0 picks a free one, shown on the startup line)\n"
    "  --address ADDR    address to listen on (default: every IPv6 and IPv4 address)\n"
    "  --reuse-port      share the port with other processes (SO_REUSEPORT); else a busy port is an error\n"
    "  --shards N        threads, each owning a share of the keys (default 1; 0: one per CPU)\n"
    "  --max-bulk BYTES  longest argument accepted (default 16 MiB); a whole command may hold\n"
    "                    4 times that plus 1 MiB\n";

// Active expiry, ten times a second for at most a millisecond (store.hpp): keys that expire but
// are never read again would otherwise stay for ever.
task<void> sweep_expired(kv::store& s) {
  for (;;) {
    auto slept = co_await sleep_for(100ms);
    if (!slept) co_return;  // cancelled: the server is stopping
    s.remove_some_expired(1ms);
  }
}

task<void> serve(kv::keyspace ks, resp::limits l, tcp_listener listener) {
  task_group shard_tasks(co_await current_stop_token());
  shard_tasks.spawn(sweep_expired((*ks.shards)[this_shard()]));
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) {
      bool go_on = co_await samples::keep_accepting(conn.error());
      if (!go_on) break;
      continue;
    }
    (void)conn->set_nodelay(true);
    shard_tasks.spawn(kv::serve_connection(std::move(*conn), ks, l));  // l outlives them: joined below
  }
  shard_tasks.cancel();  // the sweeper never ends by itself
  co_await shard_tasks.join();
}

struct server {
  kv::keyspace ks;
  resp::limits l;
  task<void> operator()(tcp_listener listener) const { return serve(ks, l, std::move(listener)); }
};

// The stores live here, in the main task, for as long as any shard serves.
task<int> kv_main(samples::listen_settings listen, resp::limits l) {
  std::vector<kv::store> stores(shard_count());
  co_return co_await samples::serve_until_signal(listen, server{kv::keyspace{&stores}, l});
}

}  // namespace

int main(int argc, char** argv) {
  samples::runtime_options opts;
  samples::listen_settings listen;
  listen.port = 6379;
  resp::limits l;
  for (samples::command_line cl(argc, argv, usage); cl.next();) {
    if (cl.runtime_flag(opts) || samples::listen_flag(cl, listen)) continue;
    if (cl.is("--max-bulk")) l.max_bulk = static_cast<std::size_t>(cl.number(1, std::int64_t{1} << 32));
    else cl.unknown();
  }
  l.max_command = 4 * l.max_bulk + (1 << 20);  // a few of the largest arguments, plus room for small ones
  return samples::run_main(opts, kv_main(listen, l));
}
