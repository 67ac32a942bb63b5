// HTTP dates (RFC 9110 §5.6.7), for Date, Last-Modified and If-Modified-Since.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace http {

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, the only form a server may send).
std::string format_date(std::time_t t);
// The current time, formatted at most once per second per thread (every response carries it).
const std::string& date_now();
// An HTTP date back to seconds: the IMF-fixdate, or one of the two obsolete formats that RFC 9110
// §5.6.7 says a recipient must still accept (RFC 850's "Sunday, 06-Nov-94 08:49:37 GMT" and
// asctime's "Sun Nov  6 08:49:37 1994"); nullopt for anything else (RFC 9110 §13.1.3: an invalid
// If-Modified-Since is ignored, not an error).
std::optional<std::time_t> parse_date(std::string_view text);

}  // namespace http
