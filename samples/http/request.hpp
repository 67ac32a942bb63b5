// Parsing an HTTP/1.x request head (RFC 9112): the request line and the header fields, out of
// whatever bytes have arrived so far. The parser never copies: every view points into the
// connection's buffer and lives as long as those bytes stay there.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace http {

struct header_field {
  std::string_view name;
  std::string_view value;
};

struct request {
  std::string_view method;
  std::string_view target;
  int minor_version = 1;  // HTTP/1.0 or HTTP/1.1
  std::vector<header_field> fields;

  // The first field called `name` (names compare case-insensitively).
  std::optional<std::string_view> field(std::string_view name) const;
  // Keep the connection open after the response? HTTP/1.1: unless "Connection: close";
  // HTTP/1.0: only with "Connection: keep-alive".
  bool wants_keep_alive() const;
  // A body follows the head (Content-Length > 0 or any Transfer-Encoding).
  bool has_body() const;
};

struct limits {
  std::size_t max_head = 8 * 1024;  // request line plus fields; beyond it: 431
  std::size_t max_fields = 64;
};

struct parse_result {
  enum class kind { incomplete, complete, failed } outcome;
  std::size_t consumed = 0;  // complete: bytes of the head, blank line included
  int status = 0;            // failed: the status to answer with (400, 431, 505)
};

// Parses the head at the start of `data`. `incomplete` means "read more and call again".
parse_result parse_request(std::string_view data, request& out, const limits& l);

// ASCII case-insensitive comparison, as HTTP field names and tokens need.
bool iequals(std::string_view a, std::string_view b);

}  // namespace http
