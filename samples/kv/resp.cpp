#include "resp.hpp"

#include <charconv>

namespace resp {
namespace {

using k = parse_result::kind;

// Reads "<number>\r\n" at `at` (after a '*' or '$'); false if the line is not all there yet.
// `ok` says whether what is there is a valid number.
bool read_length(std::string_view data, std::size_t& at, std::int64_t& n, bool& ok) {
  auto cr = data.find("\r\n", at);
  if (cr == std::string_view::npos) {
    // A length line longer than any number: nothing to wait for.
    ok = data.size() - at <= 32;
    return false;
  }
  auto [p, ec] = std::from_chars(data.data() + at, data.data() + cr, n);
  ok = ec == std::errc() && p == data.data() + cr;
  at = cr + 2;
  return true;
}

void split_inline(std::string_view line, std::vector<std::string_view>& args) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Words separated by spaces. (Redis also understands quoted words inline; a client that needs
  // spaces or binary data in an argument uses multibulk.)
  while (!line.empty()) {
    auto start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    auto end = line.find_first_of(" \t");
    args.push_back(line.substr(0, end));
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  }
}

}  // namespace

parse_result parser::parse(std::string_view data, std::vector<std::string_view>& args) {
  args.clear();
  if (data.empty()) return {k::incomplete};
  if (data[0] != '*') {
    // Inline: a line of words. Look for its end only in the bytes not yet searched.
    auto lf = data.find('\n', at_);
    if (lf == std::string_view::npos) {
      if (data.size() > l_.max_inline) return {k::protocol_error, 0, "Protocol error: too big inline request"};
      at_ = data.size();
      return {k::incomplete};
    }
    split_inline(data.substr(0, lf), args);
    reset();
    return {k::complete, lf + 1};
  }

  bool ok = true;
  if (count_ < 0) {
    std::size_t at = 1;
    std::int64_t count = 0;
    if (!read_length(data, at, count, ok))
      return ok ? parse_result{k::incomplete} : parse_result{k::protocol_error, 0, "Protocol error: invalid multibulk length"};
    if (!ok || count > static_cast<std::int64_t>(l_.max_args)) return {k::protocol_error, 0, "Protocol error: invalid multibulk length"};
    if (count <= 0) return {k::complete, at};  // "*0" and "*-1": an empty command, skipped
    count_ = count;
    at_ = head_ = at;
  }
  // The arguments not yet seen, each only once: one whose bytes have not all arrived is looked
  // at again next time from its "$<length>" line, which is short.
  for (; found_ < count_; ++found_) {
    if (at_ >= data.size()) return {k::incomplete};
    if (data[at_] != '$')
      return {k::protocol_error, 0, std::string("Protocol error: expected '$', got '") + data[at_] + "'"};
    std::size_t at = at_ + 1;
    std::int64_t len = 0;
    if (!read_length(data, at, len, ok))
      return ok ? parse_result{k::incomplete} : parse_result{k::protocol_error, 0, "Protocol error: invalid bulk length"};
    // The limit is checked on the announced length, before any of it is buffered.
    if (!ok || len < 0 || len > static_cast<std::int64_t>(l_.max_bulk))
      return {k::protocol_error, 0, "Protocol error: invalid bulk length"};
    auto n = static_cast<std::size_t>(len);
    if (data.size() - at < n + 2) return {k::incomplete};
    if (data[at + n] != '\r' || data[at + n + 1] != '\n')
      return {k::protocol_error, 0, "Protocol error: bulk string not terminated by CRLF"};
    at_ = at + n + 2;
  }

  // Complete: a second pass over framing already checked collects the arguments (views into
  // `data`, which may have moved since the first pass saw them).
  args.reserve(static_cast<std::size_t>(count_));
  for (std::size_t at = head_; at < at_;) {
    std::size_t start = data.find("\r\n", at) + 2;
    std::size_t n = 0;
    std::from_chars(data.data() + at + 1, data.data() + start - 2, n);
    args.push_back(data.substr(start, n));
    at = start + n + 2;
  }
  std::size_t used = at_;
  reset();
  return {k::complete, used};
}

void parser::reset() {
  at_ = head_ = 0;
  count_ = -1;
  found_ = 0;
}

void simple(std::string& out, std::string_view s) { out.append("+").append(s).append("\r\n"); }
void error(std::string& out, std::string_view message) {
  out.append("-");
  // The message may quote what the client sent: a CR or LF in it would end the reply early.
  for (char c : message) out += c == '\r' || c == '\n' ? ' ' : c;
  out.append("\r\n");
}
void integer(std::string& out, std::int64_t n) { out.append(":").append(std::to_string(n)).append("\r\n"); }
void bulk(std::string& out, std::string_view s) {
  out.append("$").append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
}
void nil(std::string& out) { out.append("$-1\r\n"); }
void array(std::string& out, std::size_t count) { out.append("*").append(std::to_string(count)).append("\r\n"); }

}  // namespace resp
