#include "server.hpp"

#include <array>
#include <chrono>
#include <string>

namespace samples {

couring::result<std::vector<couring::tcp_listener>> listen_on_every_shard(const std::string& address,
                                                                          std::uint16_t port) {
  using namespace couring;
  const listen_options reuse{.reuse_port = true};
  result<tcp_listener> first = std::errc::address_family_not_supported;
  if (!address.empty()) {
    // "127.0.0.1" or "::1": endpoint::parse wants the port too, IPv6 in brackets.
    bool v6 = address.find(':') != std::string::npos;
    auto at = endpoint::parse((v6 ? "[" + address + "]" : address) + ":" + std::to_string(port));
    if (!at) return at.error();
    first = tcp_listener::bind(*at, reuse);
  } else {
    // Dual stack: one IPv6 socket also accepts IPv4 clients (as ::ffff:a.b.c.d).
    first = tcp_listener::bind(endpoint::any_v6(port), reuse);
    if (!first && (first.error() == std::errc::address_family_not_supported ||
                   first.error() == std::errc::address_not_available))
      first = tcp_listener::bind(endpoint::any_v4(port), reuse);
  }
  if (!first) return first.error();

  // Port 0 asked the kernel for a free port: the other shards must join that one.
  auto bound = first->local_endpoint();
  if (!bound) return bound.error();
  std::vector<tcp_listener> out;
  out.push_back(std::move(*first));
  for (unsigned k = 1; k < shard_count(); ++k) {
    auto l = tcp_listener::bind(*bound, reuse);
    if (!l) return l.error();
    out.push_back(std::move(*l));
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
