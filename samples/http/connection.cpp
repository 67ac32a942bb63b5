#include "connection.hpp"

#include "dates.hpp"
#include "range.hpp"
#include "resolve.hpp"
#include "response.hpp"

#include "../common/server.hpp"

#include <couring/couring.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

namespace http {
namespace {

using namespace couring;
using namespace std::chrono_literals;

constexpr std::size_t read_chunk = 16 * 1024;
constexpr std::uint64_t small_body = 16 * 1024;  // up to this, a body is copied rather than spliced

task<bool> send_text(const tcp_stream& conn, std::string text, int flags = 0) {
  auto sent = co_await send_all(conn.fd(), const_buffer_of(text), flags);
  co_return static_cast<bool>(sent);
}

bool is_known_method(std::string_view m) {
  static constexpr std::array<std::string_view, 7> others{"POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (auto o : others)
    if (m == o) return true;
  return false;
}

// Sends `length` bytes of the file from `first`, after a head already sent: zero-copy file ->
// pipe -> socket where the backend splices natively, a buffered copy elsewhere (send_file).
// Splicing needs a pipe, which send_file makes before it moves a byte: out of descriptors
// (EMFILE, ENFILE) nothing has been sent yet, and the body goes through a buffer here instead,
// since the 200 is already on its way and a cut body is the one answer a client cannot recover from.
task<result<void>> send_body(const tcp_stream& conn, int file, std::uint64_t first, std::uint64_t length) {
  auto spliced = co_await send_file(conn.fd(), file, static_cast<std::int64_t>(first), length);
  if (spliced) co_return result<void>{};
  if (spliced.error() != std::errc::too_many_files_open && spliced.error() != std::errc::too_many_files_open_in_system)
    co_return spliced.error();
  constexpr std::size_t chunk = 64 * 1024;
  auto buf = std::make_unique_for_overwrite<std::byte[]>(chunk);
  for (std::uint64_t done = 0; done < length;) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, length - done));
    auto n = co_await read_exactly(file, mutable_buffer(buf.get(), want), static_cast<std::int64_t>(first + done));
    if (!n) co_return n.error();
    auto sent = co_await send_all(conn.fd(), const_buffer(buf.get(), want));
    if (!sent) co_return sent.error();
    done += want;
  }
  co_return result<void>{};
}

// Answers one request; yields whether the connection may carry another.
task<bool> respond(const tcp_stream& conn, const request& req, const site& s) {
  bool head_only = req.method == "HEAD";
  // A request with a body would leave the body in our buffer, parsed as the next request: we do
  // not read bodies (nothing here takes one), so such a connection ends after the answer.
  bool keep = req.wants_keep_alive() && !req.has_body();
  int minor = req.minor_version;

  if (req.method != "GET" && !head_only) {
    int status = is_known_method(req.method) ? 405 : 501;
    co_await send_text(conn, simple_response(status, false, minor, false));
    co_return false;
  }

  decoded_path path = decode_path(req.target);
  if (path.status == 0 && path.hidden && !s.dotfiles) path.status = 404;  // as if it were not there
  if (path.status != 0) {
    bool sent = co_await send_text(conn, simple_response(path.status, keep, minor, head_only));
    co_return keep && sent;
  }
  opened_file f = co_await open_beneath(s.root_fd, path);
  if (f.status == 301) {
    std::string location = directory_location(path, req.target);
    bool sent = co_await send_text(conn, simple_response(301, keep, minor, head_only, location));
    co_return keep && sent;
  }
  if (f.status != 0) {
    bool sent = co_await send_text(conn, simple_response(f.status, keep, minor, head_only));
    co_return keep && sent;
  }

  std::string last_modified = format_date(f.modified);
  // RFC 9110 §13.2.2: If-Modified-Since is evaluated before Range.
  if (auto since = req.field("If-Modified-Since")) {
    if (auto t = parse_date(*since); t && f.modified <= *t) {
      response_head head(304);
      head.add("Last-Modified", last_modified);
      bool sent = co_await send_text(conn, head.finish(keep, minor));
      co_return keep && sent;
    }
  }
  byte_range range;
  if (auto r = req.field("Range")) {
    range = parse_range(*r, f.size);
    // If-Range: the client's copy is stale unless it names our Last-Modified: send it all.
    if (auto if_range = req.field("If-Range"); if_range && *if_range != last_modified) range = {};
  }
  if (range.what == byte_range::kind::unsatisfiable) {
    response_head head(416);
    head.add("Content-Range", "bytes */" + std::to_string(f.size)).add("Content-Length", std::uint64_t{0});
    bool sent = co_await send_text(conn, head.finish(keep, minor));
    co_return keep && sent;
  }

  bool partial = range.what == byte_range::kind::partial;
  std::uint64_t first = partial ? range.first : 0;
  std::uint64_t length = partial ? range.last - range.first + 1 : f.size;
  response_head head(partial ? 206 : 200);
  head.add("Content-Type", content_type(f.content_type_of))
      .add("Content-Length", length)
      .add("Last-Modified", last_modified)
      .add("Accept-Ranges", "bytes");
  if (partial) head.add("Content-Range", "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" + std::to_string(f.size));
  bool body = !head_only && length > 0;
  std::string text = head.finish(keep, minor);
  if (body && length <= small_body) {
    // Small files are read and sent with the head in one send: a splice needs a pipe and two
    // ops per response, which costs more than copying a few KiB.
    std::size_t at = text.size();
    text.resize(at + length);
    auto r = co_await read_exactly(f.fd.get(), buffer(text.data() + at, length), static_cast<std::int64_t>(first));
    if (!r) co_return false;  // the file shrank since fstat: the announced length cannot be kept
    bool sent = co_await send_text(conn, std::move(text));
    co_return keep && sent;
  }
  // MSG_MORE: the head waits for the body's first bytes instead of leaving in a segment of its own.
  bool sent = co_await send_text(conn, std::move(text), body ? MSG_MORE : 0);
  if (!sent) co_return false;
  if (body) {
    auto n = co_await send_body(conn, f.fd.get(), first, length);
    if (!n) co_return false;  // the client went away, or the file shrank: the framing is broken
  }
  co_return keep;
}

// The last words to a client whose request cannot be answered: sent, then the connection closes.
task<void> refuse(const tcp_stream& conn, int status) {
  (void)co_await when_any(send_text(conn, simple_response(status, false, 1, false)), sleep_for(1s));
}

}  // namespace

task<void> serve_connection(tcp_stream conn, const site& s) {
  // Bytes received and not yet answered live in buf[start, end); requests are views into it. Its
  // size is fixed for the connection (a longer head is refused with 431 first), so receiving
  // never zero-fills or reallocates.
  std::string buf(s.head_limits.max_head + read_chunk, '\0');
  std::size_t start = 0, end = 0;
  for (;;) {
    auto deadline = std::chrono::steady_clock::now() + s.header_timeout;
    request req;
    parse_result parsed;
    for (;;) {
      parsed = parse_request(std::string_view(buf.data() + start, end - start), req, s.head_limits);
      if (parsed.outcome != parse_result::kind::incomplete) break;
      if (start > 0) {  // requests answered so far make room
        std::memmove(buf.data(), buf.data() + start, end - start);
        end -= start;
        start = 0;
      }
      auto n = co_await conn.recv(buffer(buf.data() + end, std::min(read_chunk, buf.size() - end))).with_deadline(deadline);
      if (n && *n > 0) {
        end += *n;
        continue;
      }
      // Too slow (a head still trickling in when the deadline passed: slowloris) gets a 408;
      // an idle keep-alive connection, a closed one or a stopping server just closes.
      if (!n && n.error() == std::errc::timed_out && end > start) {
        co_await refuse(conn, 408);
        co_await samples::close_gracefully(conn);
      }
      co_return;
    }
    if (parsed.outcome == parse_result::kind::failed) {
      co_await refuse(conn, parsed.status);
      co_await samples::close_gracefully(conn);
      co_return;
    }
    start += parsed.consumed;
    // Whatever the client does, the response ends within send_timeout: when_any cancels the
    // response (and awaits the cancellation) if the timer fires first.
    auto answered = co_await when_any(respond(conn, req, s), sleep_for(s.send_timeout));
    if (answered.index != 0) co_return;  // the client did not take the response: no courtesy
    if (!std::get<0>(answered.value)) {
      co_await samples::close_gracefully(conn);
      co_return;
    }
  }
}

}  // namespace http
