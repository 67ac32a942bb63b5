// couring's own error codes, for conditions that are not an errno: a helper that needed more bytes
// than the peer sent, a backend that cannot run here. They compare with std::errc where one fits.
#pragma once

#include <system_error>

namespace couring {

enum class error {
  end_of_file = 1,        // read_exactly/recv_exactly: the stream ended before the buffer was full
  backend_unavailable,    // a backend was forced but cannot start on this machine
  channel_closed,         // channel<T>: a send after close(), or a receive once closed and drained
};

const std::error_category& couring_category() noexcept;

inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), couring_category()}; }

}  // namespace couring

template <>
struct std::is_error_code_enum<couring::error> : std::true_type {};
