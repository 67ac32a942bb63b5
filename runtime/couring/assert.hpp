// COURING_ASSERT states a contract (thread ownership, op state) and stops the process with the
// broken contract's text when it does not hold. Active unless NDEBUG, like assert().
#pragma once

namespace couring::detail {
[[noreturn]] void assertion_failed(const char* expr, const char* file, int line, const char* why) noexcept;
}

#ifdef NDEBUG
#define COURING_ASSERT(expr, why) ((void)0)
#else
#define COURING_ASSERT(expr, why) \
  ((expr) ? (void)0 : ::couring::detail::assertion_failed(#expr, __FILE__, __LINE__, why))
#endif
