#include "dates.hpp"

#include <cstring>

namespace http {

std::string format_date(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  // strftime's %a and %b are English in the "C" locale, which a program has until it calls setlocale.
  std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

const std::string& date_now() {
  thread_local std::time_t cached_at = -1;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    cached = format_date(now);
    cached_at = now;
  }
  return cached;
}

std::optional<std::time_t> parse_date(std::string_view text) {
  std::string copy(text);  // strptime wants a terminated string
  std::tm tm{};
  const char* end = ::strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return ::timegm(&tm);
}

}  // namespace http
