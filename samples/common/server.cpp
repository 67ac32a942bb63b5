#include "server.hpp"

#include <sys/socket.h>
#include <netinet/in.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <string>

namespace samples {

namespace {

// Whether a plain socket (no SO_REUSEPORT) could bind `at`: it cannot if anybody listens there,
// SO_REUSEPORT or not. Bound, never listening, then closed: it takes no connection. SO_REUSEADDR
// as the real listeners have it, so that a previous run's TIME_WAIT connections do not count.
couring::result<void> port_is_free(const couring::endpoint& at) {
  couring::unique_fd probe(::socket(at.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return std::error_code(errno, std::system_category());
  int one = 1, zero = 0;
  (void)::setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (at.family() == AF_INET6) (void)::setsockopt(probe.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (::bind(probe.get(), at.data(), at.size()) < 0) return std::error_code(errno, std::system_category());
  return {};
}

// The first listener. Without --reuse-port the port must be ours alone: with one shard the
// listener is a plain socket, which the kernel never shares. Several shards need SO_REUSEPORT
// (one listener each, the kernel spreads the connections), and SO_REUSEPORT lets any other
// process of the same user that sets it too join the port and silently take a share of the
// connections: so a plain probe must be able to bind the port first. (Linux has no exclusive
// SO_REUSEPORT group; two instances probing within the same microseconds could still both start.)
couring::result<couring::tcp_listener> bind_first(const couring::endpoint& at, const listen_settings& l) {
  using namespace couring;
  bool reuse = l.reuse_port || shard_count() > 1;
  if (reuse && !l.reuse_port && at.port() != 0)
    if (auto free = port_is_free(at); !free) return free.error();
  return tcp_listener::bind(at, listen_options{.reuse_port = reuse});
}

}  // namespace

bool listen_flag(command_line& cl, listen_settings& l) {
  if (cl.is("--port")) l.port = static_cast<std::uint16_t>(cl.number(0, 65535));
  else if (cl.is("--address")) l.address = cl.value();
  else if (cl.is("--reuse-port")) l.reuse_port = true;
  else return false;
  return true;
}

couring::result<std::vector<couring::tcp_listener>> listen_on_every_shard(const listen_settings& l) {
  using namespace couring;
  result<tcp_listener> first = std::errc::address_family_not_supported;
  if (!l.address.empty()) {
    // "127.0.0.1" or "::1": endpoint::parse wants the port too, IPv6 in brackets.
    bool v6 = l.address.find(':') != std::string::npos;
    auto at = endpoint::parse((v6 ? "[" + l.address + "]" : l.address) + ":" + std::to_string(l.port));
    if (!at) return at.error();
    first = bind_first(*at, l);
  } else {
    // Dual stack: one IPv6 socket also accepts IPv4 clients (as ::ffff:a.b.c.d).
    first = bind_first(endpoint::any_v6(l.port), l);
    if (!first && (first.error() == std::errc::address_family_not_supported ||
                   first.error() == std::errc::address_not_available))
      first = bind_first(endpoint::any_v4(l.port), l);
  }
  if (!first) return first.error();

  // Port 0 asked the kernel for a free port: the other shards must join that one.
  auto bound = first->local_endpoint();
  if (!bound) return bound.error();
  std::vector<tcp_listener> out;
  out.push_back(std::move(*first));
  for (unsigned k = 1; k < shard_count(); ++k) {
    auto next = tcp_listener::bind(*bound, listen_options{.reuse_port = true});
    if (!next) return next.error();
    out.push_back(std::move(*next));
  }
  return out;
}

couring::task<bool> keep_accepting(std::error_code e) {
  using namespace std::chrono_literals;
  if (e == std::errc::operation_canceled) co_return false;
  if (e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system) {
    auto slept = co_await couring::sleep_for(50ms);
    if (!slept) co_return false;  // cancelled while waiting
  }
  co_return true;
}

namespace {

constexpr std::size_t max_parting = 64;  // connections being turned away at once

couring::task<void> say_and_close(couring::tcp_stream conn, std::string answer) {
  using namespace std::chrono_literals;
  auto sent = co_await conn.send(couring::const_buffer_of(answer)).with_timeout(1s);  // fits the socket buffer
  if (sent) co_await close_gracefully(conn);
}

}  // namespace

void turn_away(couring::task_group& parting, couring::tcp_stream conn, std::string answer) {
  if (parting.running() < max_parting) parting.spawn(say_and_close(std::move(conn), std::move(answer)));
}

couring::task<void> close_gracefully(const couring::tcp_stream& conn) {
  using namespace std::chrono_literals;
  auto shut = co_await conn.shutdown(SHUT_WR);
  if (!shut) co_return;
  std::array<std::byte, 4096> sink;
  auto until = std::chrono::steady_clock::now() + 1s;
  for (int i = 0; i < 64; ++i) {
    auto n = co_await conn.recv(couring::buffer(sink)).with_deadline(until);
    if (!n || *n == 0) co_return;
  }
}

}  // namespace samples
