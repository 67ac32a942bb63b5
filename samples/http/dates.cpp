#include "dates.hpp"

#include <array>
#include <cstring>

namespace http {
namespace {

constexpr std::array<std::string_view, 7> day_names{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> long_day_names{"Monday", "Tuesday", "Wednesday", "Thursday",
                                                         "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Reads a date field by field; any surprise makes every later read fail.
class reader {
 public:
  explicit reader(std::string_view text) : rest_(text) {}

  bool literal(std::string_view s) { return take(rest_.starts_with(s) ? s.size() : npos); }
  // The index of the name `rest` starts with, or -1. (No name is a prefix of another in a list.)
  template <std::size_t N>
  int one_of(const std::array<std::string_view, N>& names) {
    for (std::size_t i = 0; i < N; ++i)
      if (rest_.starts_with(names[i])) return take(names[i].size()) ? static_cast<int>(i) : -1;
    take(npos);
    return -1;
  }
  // Exactly `n` digits (a leading space counts as a zero where `space_ok`), or -1.
  int number(std::size_t n, bool space_ok = false) {
    if (rest_.size() < n) return take(npos), -1;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      char c = rest_[i];
      if (c == ' ' && space_ok && i == 0) continue;
      if (c < '0' || c > '9') return take(npos), -1;
      v = v * 10 + (c - '0');
    }
    return take(n) ? v : -1;
  }
  // "08:49:37"
  void time_of_day(int& hour, int& minute, int& second) {
    hour = number(2);
    literal(":");
    minute = number(2);
    literal(":");
    second = number(2);
  }
  bool done() const { return ok_ && rest_.empty(); }

 private:
  static constexpr std::size_t npos = std::string_view::npos;
  bool take(std::size_t n) {
    if (n == npos || !ok_) return ok_ = false;
    rest_.remove_prefix(n);
    return true;
  }
  std::string_view rest_;
  bool ok_ = true;
};

std::optional<std::time_t> to_time(int year, int month, int day, int hour, int minute, int second) {
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::time_t t = ::timegm(&tm);
  if (tm.tm_mday != day) return std::nullopt;  // timegm moved 31 Feb into March
  return t;
}

// The IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" and RFC 850's obsolete "Sunday, 06-Nov-94
// 08:49:37 GMT" differ only in the day names, the separator within the date and the year's
// digits. For a two-digit year, RFC 9110 §5.6.7: one that would be more than 50 years in the
// future is the latest past year with those digits.
template <std::size_t N>
std::optional<std::time_t> day_first_date(std::string_view text, const std::array<std::string_view, N>& days,
                                          std::string_view separator, std::size_t year_digits) {
  reader r(text);
  r.one_of(days);
  r.literal(", ");
  int day = r.number(2);
  r.literal(separator);
  int month = r.one_of(month_names);
  r.literal(separator);
  int year = r.number(year_digits);
  r.literal(" ");
  int h, m, s;
  r.time_of_day(h, m, s);
  r.literal(" GMT");
  if (!r.done()) return std::nullopt;
  if (year_digits == 2) {
    std::tm now{};
    std::time_t t = std::time(nullptr);
    ::gmtime_r(&t, &now);
    int this_year = now.tm_year + 1900;
    year += this_year / 100 * 100;
    if (year > this_year + 50) year -= 100;
  }
  return to_time(year, month, day, h, m, s);
}

// "Sun Nov  6 08:49:37 1994" (C's asctime, obsolete): the day is padded with a space.
std::optional<std::time_t> asctime_date(std::string_view text) {
  reader r(text);
  r.one_of(day_names);
  r.literal(" ");
  int month = r.one_of(month_names);
  r.literal(" ");
  int day = r.number(2, /*space_ok=*/true);
  r.literal(" ");
  int h, m, s;
  r.time_of_day(h, m, s);
  r.literal(" ");
  int year = r.number(4);
  return r.done() ? to_time(year, month, day, h, m, s) : std::nullopt;
}

}  // namespace

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
  if (auto t = day_first_date(text, day_names, " ", 4)) return t;
  if (auto t = day_first_date(text, long_day_names, "-", 2)) return t;
  return asctime_date(text);
}

}  // namespace http
