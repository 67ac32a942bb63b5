// control_block: the library's bookkeeping inside the caller's struct aiocb. glibc's layout is
// kept byte for byte, so the state lives where glibc keeps its own: __error_code and
// __return_value, plus a marker in __glibc_reserved that tells a submitted aiocb from one that
// never was (aio_return on it must fail with EINVAL). Everything here is a plain atomic load or
// store, which is what keeps aio_error, aio_return and aio_suspend async-signal-safe.
#pragma once

#include <aio.h>

#include <sys/types.h>

#include <cerrno>
#include <cstdint>

namespace couring::aio {

inline constexpr std::uint32_t marker = 0x6f697561;  // "auio"

enum class stage : std::uint32_t { none = 0, in_progress = 1, done = 2, returned = 3 };

struct reserved_view {
  std::uint32_t magic;
  std::uint32_t stage;
};
static_assert(sizeof(reserved_view) <= sizeof(aiocb{}.__glibc_reserved));

inline reserved_view* view(aiocb* cb) noexcept { return reinterpret_cast<reserved_view*>(cb->__glibc_reserved); }

inline bool submitted(aiocb* cb) noexcept { return __atomic_load_n(&view(cb)->magic, __ATOMIC_ACQUIRE) == marker; }

inline stage stage_of(aiocb* cb) noexcept {
  return static_cast<stage>(__atomic_load_n(&view(cb)->stage, __ATOMIC_ACQUIRE));
}

// Before the request leaves the caller's thread: aio_error answers EINPROGRESS from here on.
inline void mark_in_progress(aiocb* cb) noexcept {
  cb->__return_value = 0;
  __atomic_store_n(&cb->__error_code, EINPROGRESS, __ATOMIC_RELAXED);
  __atomic_store_n(&view(cb)->stage, static_cast<std::uint32_t>(stage::in_progress), __ATOMIC_RELAXED);
  __atomic_store_n(&view(cb)->magic, marker, __ATOMIC_RELEASE);
}

// The final status, published with release so that a reader who sees the error code also sees
// the result and the bytes read into the buffer.
inline void mark_done(aiocb* cb, ssize_t value, int error) noexcept {
  cb->__return_value = error ? -1 : value;
  __atomic_store_n(&view(cb)->stage, static_cast<std::uint32_t>(stage::done), __ATOMIC_RELAXED);
  __atomic_store_n(&cb->__error_code, error, __ATOMIC_RELEASE);
}

// aio_return's "once": only the caller that moves done -> returned gets the value.
inline bool take_result(aiocb* cb) noexcept {
  if (!submitted(cb)) return false;
  auto expected = static_cast<std::uint32_t>(stage::done);
  return __atomic_compare_exchange_n(&view(cb)->stage, &expected, static_cast<std::uint32_t>(stage::returned), false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

inline int error_of(const aiocb* cb) noexcept { return __atomic_load_n(&cb->__error_code, __ATOMIC_ACQUIRE); }

}  // namespace couring::aio
