// The library's side of <couring/log.hpp>: one call per line, at its level. Private.
#pragma once

#include <couring/log.hpp>

#include <string_view>

namespace couring::detail {

void log(log_level level, std::string_view line) noexcept;

inline void log_info(std::string_view line) noexcept { log(log_level::info, line); }
inline void log_notice(std::string_view line) noexcept { log(log_level::notice, line); }
inline void log_warning(std::string_view line) noexcept { log(log_level::warning, line); }
inline void log_error(std::string_view line) noexcept { log(log_level::error, line); }

}  // namespace couring::detail
