// couring writes to stderr in two cases only: the one line saying which backend runs and why
// (silenced by COURING_LOG=quiet), and errors nobody else would ever see, such as an exception
// escaping a detached task (never silenced).
#pragma once

#include <string_view>

namespace couring::detail {

void log_notice(std::string_view line) noexcept;  // silenced by COURING_LOG=quiet
void log_error(std::string_view line) noexcept;   // always written

}  // namespace couring::detail
