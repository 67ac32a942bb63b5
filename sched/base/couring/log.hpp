// couring's diagnostics: how much it says, and where the lines go.
//
// By default couring speaks only when something is not as a user would assume: a fallback taken,
// request kinds emulated, a feature unavailable, a bad environment variable ignored, an error
// nobody else would see. Each line carries its reason. Which backend runs when nothing is unusual
// is `info`, below the default. The level comes from COURING_LOG (docs/environment.md) or
// runtime_config::log_threshold; the lines go to stderr, or to a sink the program installs
// (runtime_config::log_output, or set_log_sink) to route them into its own logger.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

namespace couring {

enum class log_level : unsigned char {
  debug,    // what couring does step by step (nothing is logged this fine yet)
  info,     // ordinary choices: which backend runs
  notice,   // the default: a fallback taken, kinds emulated, a feature unavailable
  warning,  // a setting ignored (a bad environment variable), a limit hit
  error,    // something failed that nobody else will report
  off,      // nothing at all
};

// Receives every line at or above the threshold: its level and its text (no "couring: " prefix,
// no newline). Called on whichever thread logs, possibly several at once; it must not throw
// (an exception is swallowed) and must not wait for couring's own threads.
using log_sink = std::function<void(log_level, std::string_view)>;

// Process-wide. Lines below `threshold` are dropped. Until a program sets it, it is COURING_LOG's
// value, else notice.
void set_log_threshold(log_level threshold) noexcept;
log_level log_threshold() noexcept;

// Process-wide. An empty sink restores the default: "couring: <line>" on stderr.
void set_log_sink(log_sink sink);

// "debug", "info", "notice", "warning", "error", "off".
const char* log_level_name(log_level level) noexcept;
// The inverse, plus COURING_LOG's older "quiet" (warning: only what needs attention). nullopt for
// anything else.
std::optional<log_level> parse_log_level(std::string_view name) noexcept;

}  // namespace couring
