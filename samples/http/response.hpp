// Building response heads: the status line, the fields every response carries, and the small
// complete responses for errors and redirects.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace http {

std::string_view reason_phrase(int status);
// By extension, the few types a static site needs; application/octet-stream otherwise.
std::string_view content_type(std::string_view file_name);

// A head under construction: the status line, Server and Date, then whatever add() appends;
// finish() adds the connection's fate and the blank line.
class response_head {
 public:
  explicit response_head(int status);
  response_head& add(std::string_view name, std::string_view value);
  response_head& add(std::string_view name, std::uint64_t value);
  // HTTP/1.0 clients need "keep-alive" said explicitly; HTTP/1.1 ones need "close" said.
  std::string finish(bool keep_alive, int minor_version);

 private:
  std::string text_;
};

// A complete response with a short text body saying what went wrong (or, for 301, where to go).
std::string simple_response(int status, bool keep_alive, int minor_version, bool head_only,
                            std::string_view location = {});

}  // namespace http
