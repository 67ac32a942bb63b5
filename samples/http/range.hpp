// The Range field (RFC 9110 §14.2), for a single byte range: "bytes=0-99", "bytes=100-",
// "bytes=-100" (the last 100 bytes).
#pragma once

#include <cstdint>
#include <string_view>

namespace http {

struct byte_range {
  enum class kind {
    whole,          // no Range, one we do not do (several ranges, other units), or malformed: send it all (200)
    partial,        // send [first, last] (206)
    unsatisfiable,  // starts at or past the end (416)
  } what = kind::whole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};

byte_range parse_range(std::string_view value, std::uint64_t size);

}  // namespace http
