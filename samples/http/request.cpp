#include "request.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>

namespace http {
namespace {

// tchar of RFC 9110 §5.6.2: what methods and field names are made of.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

// Visible characters only: a target with a space, a control character or a byte >= 0x80 (which
// clients must percent-encode) is malformed.
bool is_target(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// field-value of RFC 9110 §5.5: visible characters, spaces and tabs, and bytes >= 0x80. A NUL, a
// CR that does not end the line, or another control character is invalid: recipients that
// disagree about where such a value ends are how requests get smuggled.
bool is_field_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Cuts the next line off `rest`; lines end in CRLF, or a bare LF, which RFC 9112 §2.2 lets a
// server accept.
std::string_view next_line(std::string_view& rest) {
  auto lf = rest.find('\n');
  std::string_view line = rest.substr(0, lf);
  rest.remove_prefix(lf == std::string_view::npos ? rest.size() : lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Where the head ends (just past its blank line), or npos if it has not all arrived.
std::size_t end_of_head(std::string_view data) {
  for (std::size_t at = data.find('\n'); at != std::string_view::npos; at = data.find('\n', at + 1)) {
    std::size_t next = at + 1;
    if (next < data.size() && data[next] == '\n') return next + 1;
    if (next + 1 < data.size() && data[next] == '\r' && data[next + 1] == '\n') return next + 2;
  }
  return std::string_view::npos;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

std::optional<std::string_view> request::field(std::string_view name) const {
  for (auto& f : fields)
    if (iequals(f.name, name)) return f.value;
  return std::nullopt;
}

bool request::wants_keep_alive() const {
  auto connection = field("Connection");
  if (connection && has_token(*connection, "close")) return false;
  if (minor_version >= 1) return true;
  return connection && has_token(*connection, "keep-alive");
}

bool request::has_body() const {
  if (field("Transfer-Encoding")) return true;
  auto length = field("Content-Length");
  return length && *length != "0";
}

parse_result parse_request(std::string_view data, request& out, const limits& l) {
  using k = parse_result::kind;
  // RFC 9112 §2.2: ignore empty lines before the request line (some clients send a stray CRLF
  // after a body).
  std::size_t skipped = 0;
  while (skipped < data.size() && (data[skipped] == '\r' || data[skipped] == '\n')) ++skipped;
  std::string_view rest = data.substr(skipped);

  std::size_t end = end_of_head(rest);
  if (end == std::string_view::npos) {
    if (rest.size() > l.max_head) return {k::failed, 0, 431};
    return {k::incomplete};
  }
  if (end > l.max_head) return {k::failed, 0, 431};
  std::string_view head = rest.substr(0, end);

  // request-line = method SP request-target SP HTTP-version: exactly single spaces.
  std::string_view line = next_line(head);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return {k::failed, 0, 400};
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(out.method) || !is_target(out.target)) return {k::failed, 0, 400};
  if (version.size() != 8 || !version.starts_with("HTTP/") || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[5])) || !std::isdigit(static_cast<unsigned char>(version[7])))
    return {k::failed, 0, 400};
  if (version[5] != '1') return {k::failed, 0, 505};
  out.minor_version = version[7] == '0' ? 0 : 1;

  out.fields.clear();
  for (std::string_view field_line = next_line(head); !field_line.empty(); field_line = next_line(head)) {
    // Obsolete line folding and whitespace before the colon are request smuggling vectors:
    // RFC 9112 §5.1/§5.2 say reject.
    if (field_line.front() == ' ' || field_line.front() == '\t') return {k::failed, 0, 400};
    auto colon = field_line.find(':');
    if (colon == std::string_view::npos) return {k::failed, 0, 400};
    std::string_view name = field_line.substr(0, colon);
    if (!is_token(name)) return {k::failed, 0, 400};
    std::string_view value = field_line.substr(colon + 1);
    if (!is_field_value(value)) return {k::failed, 0, 400};
    if (out.fields.size() == l.max_fields) return {k::failed, 0, 431};
    out.fields.push_back({name, trim(value)});
  }

  // HTTP/1.1 requires Host, and any request with two Host fields is a 400 (RFC 9112 §3.2): which
  // one names the site is ambiguous. A Content-Length must be one plain number, else the
  // request's framing is ambiguous.
  auto hosts = std::count_if(out.fields.begin(), out.fields.end(), [](auto& f) { return iequals(f.name, "Host"); });
  if (hosts > 1 || (out.minor_version == 1 && hosts == 0)) return {k::failed, 0, 400};
  std::optional<std::string_view> length;
  for (auto& f : out.fields) {
    if (!iequals(f.name, "Content-Length")) continue;
    std::uint64_t n;
    auto [p, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
    if (ec != std::errc() || p != f.value.data() + f.value.size() || (length && *length != f.value))
      return {k::failed, 0, 400};
    length = f.value;
  }
  return {k::complete, skipped + end, 0};
}

}  // namespace http
