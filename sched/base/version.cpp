#include <couring/version.hpp>

namespace couring {

// Compiled into the library: the version it was built as, whatever headers a program used.
const char* library_version() noexcept { return COURING_VERSION_STRING; }

}  // namespace couring
