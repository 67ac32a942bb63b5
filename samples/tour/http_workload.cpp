#include "http_workload.hpp"

#include "../http/connection.hpp"
#include "serve_while.hpp"

#include <couring/couring.hpp>

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string_view>
#include <system_error>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;

namespace tour {
namespace {

constexpr std::string_view file_name = "tour.bin";
constexpr std::string_view request = "GET /tour.bin HTTP/1.1\r\nHost: tour\r\n\r\n";
constexpr std::size_t head_room = 2048;  // the server's heads are a few hundred bytes

std::vector<std::byte> make_body(std::size_t size) {
  std::vector<std::byte> body(size);
  for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
  return body;
}

task<void> write_file(const std::string& path, const std::vector<std::byte>& body) {
  auto f = co_await file::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!f) throw std::system_error(f.error(), "creating " + path);
  auto written = co_await write_all(f->fd(), const_buffer_of(body), 0);
  if (!written) throw std::system_error(written.error(), "writing " + path);
  (void)co_await f->close();
}

// The value of the Content-Length field in a response head (field names are case-insensitive),
// or npos when it is missing or malformed.
std::size_t content_length(std::string_view head) {
  constexpr std::string_view name = "\r\ncontent-length:";
  auto same = [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; };
  auto at = std::search(head.begin(), head.end(), name.begin(), name.end(), same);
  if (at == head.end()) return std::string_view::npos;
  std::string_view value = head.substr(static_cast<std::size_t>(at - head.begin()) + name.size());
  value.remove_prefix(std::min(value.find_first_not_of(' '), value.size()));
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end == value.data()) return std::string_view::npos;
  return n;
}

// Hands each connection to the sample's handler, as couring-http's own accept loop does.
struct http_handler {
  const http::site* site;
  task<void> operator()(tcp_stream conn) const { return http::serve_connection(std::move(conn), *site); }
};

task<void> http_client(endpoint server, const std::vector<std::byte>& body, clock_type::time_point end, load_tally& tally) {
  auto conn = co_await tcp_stream::connect(server);
  if (!conn) {
    ++tally.failed;
    co_return;
  }
  (void)conn->set_nodelay(true);
  std::vector<char> in(head_room + body.size());
  while (clock_type::now() < end) {
    auto sent_at = clock_type::now();
    auto sent = co_await send_all(conn->fd(), const_buffer_of(request));
    if (!sent) {
      ++tally.failed;
      co_return;
    }
    // The head, up to its blank line; the first part of the body usually arrives with it.
    std::size_t have = 0;
    std::size_t head_end = std::string_view::npos;
    while (head_end == std::string_view::npos) {
      if (have == head_room) {
        ++tally.wrong;  // no end of head where one must be
        co_return;
      }
      auto n = co_await conn->recv(buffer(in.data() + have, head_room - have));
      if (!n || *n == 0) {
        ++tally.failed;
        co_return;
      }
      have += *n;
      head_end = std::string_view(in.data(), have).find("\r\n\r\n");
    }
    head_end += 4;
    std::string_view head(in.data(), head_end);
    std::size_t length = content_length(head);
    if (!head.starts_with("HTTP/1.1 200 ") || length != body.size() || have > head_end + length) {
      ++tally.wrong;  // the rest of the stream cannot be trusted: stop this connection
      co_return;
    }
    if (have < head_end + length) {
      auto rest = co_await recv_exactly(conn->fd(), buffer(in.data() + have, head_end + length - have));
      if (!rest) {
        ++tally.failed;
        co_return;
      }
    }
    tally.record(sent_at);
    if (std::memcmp(in.data() + head_end, body.data(), length) != 0) ++tally.wrong;
  }
}

task<void> drive_http(endpoint server, const http_workload& w, const std::vector<std::byte>& body, load_tally& tally) {
  auto t0 = clock_type::now();
  std::vector<task<void>> clients;
  for (int c = 0; c < w.connections; ++c) clients.push_back(http_client(server, body, t0 + w.duration, tally));
  co_await when_all(std::move(clients));
  tally.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

task<load_tally> run_http_workload(const http_workload& w) {
  auto body = make_body(w.body_bytes);
  co_await write_file(w.root + "/" + std::string(file_name), body);
  auto root = co_await file::open(w.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!root) throw std::system_error(root.error(), "opening " + w.root);
  http::site site;
  site.root_fd = root->fd();

  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  if (!listener) throw std::system_error(listener.error(), "http: bind");
  endpoint at = listener->local_endpoint().value();
  load_tally tally;
  auto give_up = clock_type::now() + w.duration + 10s;
  co_await serve_while(accept_connections(std::move(*listener), http_handler{&site}), drive_http(at, w, body, tally),
                       give_up);
  co_return tally;
}

}  // namespace tour
