// RESP2, the Redis serialization protocol: parsing commands and writing replies.
//
// A command arrives either as a multibulk array ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", what client
// libraries send) or inline ("GET k\r\n", what a person types into nc). Replies are simple
// strings (+OK), errors (-ERR ...), integers (:1), bulk strings ($3\r\nabc, $-1 for nil) and
// arrays (*N followed by N replies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace resp {

struct limits {
  std::size_t max_bulk = 16 << 20;      // one argument's length; Redis's proto-max-bulk-len is 512 MiB
  std::size_t max_args = 1024 * 1024;   // elements of one multibulk (Redis's limit)
  std::size_t max_inline = 64 * 1024;   // an inline command's line (Redis's limit)
  // One whole command, however many arguments it has: many arguments each under max_bulk must not
  // add up to unbounded memory (Redis's client-query-buffer-limit plays this part).
  std::size_t max_command = 65 << 20;  // main.cpp: 4 * max_bulk + 1 MiB
};

struct parse_result {
  enum class kind { incomplete, complete, protocol_error } outcome;
  std::size_t consumed = 0;  // complete: the command's bytes (args then point into them)
  std::string error{};       // protocol_error: the reply's text, e.g. "Protocol error: invalid bulk length"
};

// Parses the command at the start of `data` into `args` (views into `data`). A complete command
// with no arguments (an empty line, "*0") is valid and is skipped by the caller. After a protocol
// error the stream cannot be resynchronised: the caller answers and closes, as Redis does.
parse_result parse_command(std::string_view data, std::vector<std::string_view>& args, const limits& l);

// Reply writers: each appends one reply to `out`.
void simple(std::string& out, std::string_view s);
void error(std::string& out, std::string_view message);  // message starts with its kind: "ERR ..."
void integer(std::string& out, std::int64_t n);
void bulk(std::string& out, std::string_view s);
void nil(std::string& out);
void array(std::string& out, std::size_t count);  // the header; the caller appends `count` replies

}  // namespace resp
