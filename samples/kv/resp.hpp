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
};

struct parse_result {
  enum class kind { incomplete, complete, protocol_error } outcome;
  std::size_t consumed = 0;  // complete: the command's bytes (args then point into them)
  std::string error{};       // protocol_error: the reply's text, e.g. "Protocol error: invalid bulk length"
};

// Parses one command at a time, out of a buffer that grows between calls. An incomplete command
// is not parsed again from its start when more bytes arrive: the parser remembers how far it
// got, so a command of a million arguments arriving in a thousand pieces costs linear time.
class parser {
 public:
  explicit parser(const limits& l) : l_(l) {}

  // Parses the command at the start of `data` into `args` (views into `data`). `data` holds the
  // bytes given on the previous call, if that one said incomplete, and possibly more after them;
  // they may have moved (the parser keeps offsets, not pointers). A complete command with no
  // arguments (an empty line, "*0") is valid and is skipped by the caller. After a protocol
  // error the stream cannot be resynchronised: the caller answers and closes, as Redis does.
  parse_result parse(std::string_view data, std::vector<std::string_view>& args);

 private:
  void reset();  // for the next command

  const limits& l_;
  std::size_t at_ = 0;       // parsed up to here (inline: searched for the line's end up to here)
  std::size_t head_ = 0;     // multibulk: where the first argument starts
  std::int64_t count_ = -1;  // multibulk: the arguments announced; -1 until the header is read
  std::int64_t found_ = 0;   // multibulk: the arguments complete so far
};

// Reply writers: each appends one reply to `out`.
void simple(std::string& out, std::string_view s);
void error(std::string& out, std::string_view message);  // message starts with its kind: "ERR ..."
void integer(std::string& out, std::int64_t n);
void bulk(std::string& out, std::string_view s);
void nil(std::string& out);
void array(std::string& out, std::size_t count);  // the header; the caller appends `count` replies

}  // namespace resp
