// The single conversion point from the kernel's "negative errno" convention to std::error_code.
// Both backends produce `res` the way io_uring does (>= 0 value, < 0 is -errno); only this header
// turns it into an error, so nobody ever compares `res` against a positive errno by mistake.
#pragma once

#include <system_error>

namespace couring {

// Precondition: res < 0.  The system category maps errno values onto std::errc, so callers
// compare with `r.error() == std::errc::no_such_file_or_directory`.
inline std::error_code error_from_res(int res) noexcept {
  return std::error_code(-res, std::system_category());
}

}  // namespace couring
