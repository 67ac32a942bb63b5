#include "connection.hpp"

#include "../common/server.hpp"

#include <couring/couring.hpp>

#include <string>
#include <vector>

namespace kv {

using namespace couring;

namespace {

constexpr std::size_t read_chunk = 16 * 1024;
constexpr std::size_t flush_at = 64 * 1024;  // a long pipeline's replies go out in pieces this big

}  // namespace

task<void> serve_connection(tcp_stream conn, keyspace ks, const resp::limits& l) {
  std::string in;         // received, not yet executed; a command split across reads waits here
  std::size_t start = 0;  // where the next command begins in `in`
  std::string out;        // replies not yet sent
  std::vector<std::string_view> args;
  resp::parser parser(l);
  for (;;) {
    bool close = false;
    for (;;) {
      auto parsed = parser.parse(std::string_view(in).substr(start), args);
      if (parsed.outcome == resp::parse_result::kind::incomplete) {
        if (in.size() - start <= l.max_command) break;
        parsed = {resp::parse_result::kind::protocol_error, 0, "Protocol error: command too large"};
      }
      if (parsed.outcome == resp::parse_result::kind::protocol_error) {
        // The framing is lost: nothing after this point can be trusted to start a command.
        resp::error(out, "ERR " + parsed.error);
        close = true;
        break;
      }
      start += parsed.consumed;
      if (args.empty()) continue;
      bool go_on = co_await execute(args, out, ks);
      if (!go_on) {
        close = true;
        break;
      }
      if (out.size() >= flush_at) {
        auto sent = co_await send_all(conn.fd(), const_buffer_of(out));
        if (!sent) co_return;
        out.clear();
      }
    }
    if (!out.empty()) {
      auto sent = co_await send_all(conn.fd(), const_buffer_of(out));
      if (!sent) co_return;
      out.clear();
    }
    if (close) {
      co_await samples::close_gracefully(conn);
      co_return;
    }
    in.erase(0, start);  // executed commands make room
    start = 0;
    std::size_t old = in.size();
    in.resize(old + read_chunk);
    auto n = co_await conn.recv(buffer(in.data() + old, read_chunk));
    in.resize(old + (n ? *n : 0));
    if (!n || *n == 0) co_return;  // the client left, or the server is stopping
  }
}

}  // namespace kv
