// Each benchmark program prints exactly one JSON object on one line of stdout; the runner parses
// it. Keys are plain identifiers and values numbers or simple strings, so no escaping is needed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace bench {

class report {
 public:
  report& add(const char* key, double v) {
    char num[64];
    std::snprintf(num, sizeof num, "%.9g", v);
    return raw(key, num);
  }
  report& add(const char* key, std::uint64_t v) { return raw(key, std::to_string(v)); }
  report& add(const char* key, const std::string& v) { return raw(key, "\"" + v + "\""); }
  report& add(const char* key, const char* v) { return add(key, std::string(v)); }

  void print() const { std::printf("{%s}\n", body_.c_str()); }

 private:
  report& raw(const char* key, const std::string& v) {
    if (!body_.empty()) body_ += ", ";
    body_ += "\"";
    body_ += key;
    body_ += "\": ";
    body_ += v;
    return *this;
  }
  std::string body_;
};

}  // namespace bench
