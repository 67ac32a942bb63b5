#include "range.hpp"

#include <charconv>

namespace http {
namespace {

bool parse_number(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

byte_range parse_range(std::string_view value, std::uint64_t size) {
  using k = byte_range::kind;
  // A server may ignore Range (§14.2): several ranges would need multipart/byteranges, which a
  // sample does not need to show, so they get the whole file like any other Range we skip.
  if (!value.starts_with("bytes=") || value.find(',') != std::string_view::npos) return {};
  value.remove_prefix(6);
  auto dash = value.find('-');
  if (dash == std::string_view::npos) return {};
  std::string_view a = value.substr(0, dash), b = value.substr(dash + 1);
  std::uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: the last N bytes
    if (!parse_number(b, last)) return {};
    if (last == 0 || size == 0) return {k::unsatisfiable};
    first = last >= size ? 0 : size - last;
    return {k::partial, first, size - 1};
  }
  if (!parse_number(a, first)) return {};
  if (b.empty()) last = size - 1;
  else if (!parse_number(b, last) || last < first) return {};
  if (first >= size) return {k::unsatisfiable};
  if (last >= size) last = size - 1;
  return {k::partial, first, last};
}

}  // namespace http
