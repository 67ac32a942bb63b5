// Choosing the backend at run time: the probe, the fallback decision and its reason.
#pragma once

#include <couring/backend.hpp>
#include <couring/config.hpp>

#include <memory>
#include <string>

namespace couring {

namespace pool {
class worker_pool;
}

struct backend_selection {
  std::unique_ptr<backend> chosen;
  std::string reason;  // why this backend, in words a user can act on
};

// Throws std::system_error (couring::error::backend_unavailable) when config forces a backend
// that cannot run here.
backend_selection select_backend(scheduler& owner, pool::worker_pool& workers, const runtime_config& config);

// Whether io_uring support was compiled in (liburing found at build time).
bool io_uring_compiled_in() noexcept;

}  // namespace couring
