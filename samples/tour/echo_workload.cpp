#include "echo_workload.hpp"

#include "serve_while.hpp"

#include <couring/couring.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <system_error>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;

namespace tour {
namespace {

task<void> echo_back(tcp_stream conn) {
  std::array<std::byte, 16 * 1024> buf;  // in the coroutine frame: no allocation per message
  for (;;) {
    auto n = co_await conn.recv(buffer(buf));
    if (!n || *n == 0) co_return;  // the client's EOF, an error, or the server being cancelled
    auto sent = co_await send_all(conn.fd(), buffer(buf.data(), *n));
    if (!sent) co_return;
  }
}

task<void> echo_client(endpoint server, std::size_t message_bytes, clock_type::time_point end, load_tally& tally) {
  auto conn = co_await tcp_stream::connect(server);
  if (!conn) {
    ++tally.failed;
    co_return;
  }
  (void)conn->set_nodelay(true);
  std::vector<std::byte> out(message_bytes), in(message_bytes);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i * 7 + 1);
  for (std::uint64_t n = 0; clock_type::now() < end; ++n) {
    // Each message carries its number, so a reply that belongs to another message does not match.
    std::memcpy(out.data(), &n, std::min(sizeof n, out.size()));
    auto sent_at = clock_type::now();
    auto sent = co_await send_all(conn->fd(), buffer(out));
    if (!sent) {
      ++tally.failed;
      co_return;
    }
    auto back = co_await recv_exactly(conn->fd(), buffer(in));
    if (!back) {
      ++tally.failed;
      co_return;
    }
    tally.record(sent_at);
    if (in != out) ++tally.wrong;
  }
}

task<void> drive_echo(endpoint server, const echo_workload& w, load_tally& tally) {
  auto t0 = clock_type::now();
  std::vector<task<void>> clients;
  for (int c = 0; c < w.connections; ++c) clients.push_back(echo_client(server, w.message_bytes, t0 + w.duration, tally));
  co_await when_all(std::move(clients));
  tally.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

task<load_tally> run_echo_workload(const echo_workload& w) {
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));  // port 0: any free port
  if (!listener) throw std::system_error(listener.error(), "echo: bind");
  endpoint at = listener->local_endpoint().value();
  load_tally tally;
  auto give_up = clock_type::now() + w.duration + 10s;
  co_await serve_while(accept_connections(std::move(*listener), echo_back), drive_echo(at, w, tally), give_up);
  co_return tally;
}

}  // namespace tour
