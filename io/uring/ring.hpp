// ring: an io_uring instance set up with the best flags the running kernel accepts.
#pragma once

#include <liburing.h>

#include <bitset>
#include <string>
#include <vector>

namespace couring::uring {

struct ring_options {
  unsigned sq_entries = 256;  // > the ops one shard typically has in flight; more queue in the SQ-full path
  unsigned cq_entries = 0;    // 0: the kernel's default, twice sq_entries
  // A kernel thread polls the SQ (no io_uring_enter to submit). It burns a CPU while busy: on a
  // small machine it competes with the application and loses badly, so it is opt-in.
  bool sqpoll = false;
  unsigned sqpoll_idle_ms = 1000;
  int sqpoll_cpu = -1;
  // IORING_SETUP_IOPOLL: completions are polled from the device; only O_DIRECT reads and writes
  // (and NOP) may be submitted.
  bool iopoll = false;
  // The ring accepts only the opcodes in `allowed_opcodes` (IORING_REGISTER_RESTRICTIONS); others
  // fail with EACCES. The opcodes the backend itself needs are added.
  bool restricted = false;
  std::vector<int> allowed_opcodes;
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

  // The opcodes this kernel's io_uring implements (probed at setup).
  const std::bitset<256>& opcodes() const noexcept { return opcodes_; }
  bool restricted() const noexcept { return restricted_; }

 private:
  void probe_opcodes();
  void restrict_to(const std::vector<int>& opcodes);

  io_uring ring_{};
  unsigned setup_flags_ = 0;
  std::bitset<256> opcodes_;
  bool restricted_ = false;
};

}  // namespace couring::uring
