// Choosing the backend at run time: the probe, the fallback decision and its reason. The
// runtime fills in the options from its configuration; io/ never reads the configuration itself.
#pragma once

#include "io/backend/backend.hpp"

#include <couring/backend_info.hpp>

#include <bitset>
#include <memory>
#include <string>

namespace couring {

namespace emulation {
class worker_pool;
}

struct backend_options {
  backend_choice choice = backend_choice::automatic;
  unsigned sq_entries = 256;
  unsigned cq_entries = 0;  // 0: twice sq_entries
  bool sqpoll = false;
  unsigned sqpoll_idle_ms = 1000;
  int sqpoll_cpu = -1;
  bool iopoll = false;
  bool msg_ring_wakeups = true;
  std::bitset<request_kinds> hidden;   // kinds io_uring runs through the emulation anyway
  bool restricted = false;             // the ring accepts only the opcodes of `allowed`
  std::bitset<request_kinds> allowed;
};

struct backend_selection {
  std::unique_ptr<backend> chosen;
  std::string reason;  // why this backend, in words a user can act on
};

// Throws std::system_error (couring::error::backend_unavailable) when the options force a
// backend that cannot run here.
backend_selection select_backend(scheduler& owner, emulation::worker_pool& workers, const backend_options& options);

// Whether io_uring support was compiled in (liburing found at build time).
bool io_uring_compiled_in() noexcept;

}  // namespace couring
