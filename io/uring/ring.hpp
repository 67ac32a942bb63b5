// ring: an io_uring instance set up with the best flags the running kernel accepts.
#pragma once

#include <liburing.h>

#include <bitset>
#include <string>

namespace couring::uring {

struct ring_options {
  unsigned sq_entries = 256;  // > the ops one shard typically has in flight; more queue in the SQ-full path
  unsigned cq_entries = 0;    // 0: the kernel's default, twice sq_entries
};

class ring {
 public:
  // Throws std::system_error naming the failing call (io_uring_setup: EPERM under a seccomp
  // profile, ENOSYS on kernels without io_uring, ENOMEM under a small RLIMIT_MEMLOCK...).
  explicit ring(const ring_options& options);
  ~ring();
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;

  io_uring* get() noexcept { return &ring_; }
  unsigned setup_flags() const noexcept { return setup_flags_; }
  unsigned features() const noexcept { return ring_.features; }
  // A readable summary of the flags in use, e.g. "single_issuer defer_taskrun submit_all".
  std::string describe() const;

  // The opcodes this kernel's io_uring implements.
  std::bitset<256> probe_opcodes();

 private:
  io_uring ring_{};
  unsigned setup_flags_ = 0;
};

}  // namespace couring::uring
