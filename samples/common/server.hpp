// The skeleton the three servers share: one listener per shard, and a clean stop on SIGINT or
// SIGTERM.
//
// Each shard gets its own listener on the same address (SO_REUSEPORT where there are several),
// so the kernel spreads new connections over the shards and no shard hands sockets to another.
// A port somebody else listens on is an error ("Address already in use") unless --reuse-port asks
// to share it. The signal set is awaited together with the servers (when_any): when a signal
// wins, every shard's server is cancelled and awaited, which closes every connection, before
// main() returns.
#pragma once

#include "command_line.hpp"

#include <couring/couring.hpp>

#include <fmt/core.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace samples {

// Where a server listens, from its command line.
struct listen_settings {
  std::string address;      // "127.0.0.1", "::1"; empty: "[::]" (IPv6 and IPv4 on one dual-stack
                            // socket), or "0.0.0.0" where the machine has no IPv6
  std::uint16_t port = 0;
  bool reuse_port = false;  // --reuse-port: share the port with other processes that set
                            // SO_REUSEPORT (several instances behind one port); else it is ours alone
};

// --port, --address and --reuse-port; true if the current argument was one of them.
bool listen_flag(command_line& cl, listen_settings& l);

// One listener per shard on the settings' port and address.
couring::result<std::vector<couring::tcp_listener>> listen_on_every_shard(const listen_settings& l);

// What an accept loop does after a failed accept: false to stop (it was cancelled), true to go
// on. Running out of descriptors (EMFILE, ENFILE) pauses briefly first so that the loop does not
// spin while connections close; a client that gave up (ECONNABORTED) is simply skipped.
couring::task<bool> keep_accepting(std::error_code e);

// Ends a connection so that the client still reads our last reply. Closing a socket that has
// unread bytes (a body we ignored, requests pipelined after the last one we answer) makes the
// kernel send a RST, which may destroy the reply in the client's buffer before it is read; so:
// FIN first, then drain what the client still sends, for a bounded time and amount.
couring::task<void> close_gracefully(const couring::tcp_stream& conn);

// Answers a client that cannot be served now (HTTP's 503, Redis's "max number of clients
// reached") and closes its connection gracefully, so that the answer is read rather than lost to
// a reset: the client has usually sent its request already, and closing a socket with unread
// bytes sends a RST. Runs in `parting` (the accept loop goes on meanwhile), at most 64 at once:
// beyond that a flood of clients is closed without a word.
void turn_away(couring::task_group& parting, couring::tcp_stream conn, std::string answer);

namespace detail {

// Runs serve(listener) on shard `shard` and waits for it from the caller's shard; cancelling the
// caller cancels it there (submit_to forwards the stop).
template <class Serve>
couring::task<void> serve_on(unsigned shard, Serve serve, couring::tcp_listener listener) {
  co_await couring::submit_to(shard, serve(std::move(listener)));
}

template <class Serve>
couring::task<void> serve_everywhere(std::vector<couring::tcp_listener> listeners, Serve serve) {
  std::vector<couring::task<void>> shards;
  for (unsigned k = 0; k < listeners.size(); ++k) shards.push_back(serve_on(k, serve, std::move(listeners[k])));
  co_await couring::when_all(std::move(shards));
}

}  // namespace detail

// Binds, prints the startup line ("<name>: listening on ADDR (N shards, backend B)<extra>"),
// then runs `serve(tcp_listener) -> task<void>` on every shard until SIGINT or SIGTERM. Returns
// the exit status. `serve` is copied to every shard: give it only what may be shared.
template <class Serve>
couring::task<int> serve_until_signal(listen_settings l, Serve serve, std::string extra = {}) {
  // Opened before the first connection so that a SIGTERM from now on is an orderly stop; the
  // other shards' threads block every signal, so it always reaches this set.
  auto sigs = couring::signal_set::open({SIGINT, SIGTERM});
  if (!sigs) {
    fmt::print(stderr, "{}: signalfd: {}\n", program_name(), sigs.error().message());
    co_return 1;
  }
  auto listeners = listen_on_every_shard(l);
  if (!listeners) {
    bool busy = listeners.error() == std::errc::address_in_use;
    fmt::print(stderr, "{}: cannot listen on port {}: {}{}\n", program_name(), l.port, listeners.error().message(),
               busy ? " (another server listens there; --reuse-port shares the port)" : "");
    co_return 1;
  }
  couring::endpoint at = listeners->front().local_endpoint().value();
  auto* rt = couring::runtime::current();
  fmt::print("{}: listening on {} ({} shard{}, {}){}\n", program_name(), at.to_string(), rt->shards(),
             rt->shards() == 1 ? "" : "s", describe_backend(*rt), extra);
  std::fflush(stdout);  // the tests (and scripts) wait for this line on a pipe

  auto stop = co_await couring::when_any(sigs->wait(), detail::serve_everywhere(std::move(*listeners), serve));
  if (stop.index == 0) {
    auto& sig = std::get<0>(stop.value);
    fmt::print(stderr, "{}: {}, shutting down\n", program_name(), sig ? strsignal(*sig) : "signal_set failed");
    co_return 0;
  }
  co_return 1;  // the servers ended by themselves: only a failure does that
}

}  // namespace samples
