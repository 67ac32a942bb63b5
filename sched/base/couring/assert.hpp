// COURING_ASSERT states a contract (thread ownership, op state) and stops the process with the
// broken contract's text when it does not hold. One switch for the whole library, fixed when
// couring was built (meson option `assertions`): a program's own NDEBUG changes neither the
// layouts nor the behaviour of couring's inline code, so the library and the headers agree.
#pragma once

#include <couring/detail/build_config.hpp>

namespace couring::detail {
[[noreturn]] void assertion_failed(const char* expr, const char* file, int line, const char* why) noexcept;
}

#if COURING_ASSERTIONS
#define COURING_ASSERT(expr, why) \
  ((expr) ? (void)0 : ::couring::detail::assertion_failed(#expr, __FILE__, __LINE__, why))
#else
#define COURING_ASSERT(expr, why) ((void)0)
#endif
