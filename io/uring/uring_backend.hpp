// uring_backend: the io_uring backend. Ops become SQEs whose user_data is the op's address; all
// SQEs of one loop iteration go to the kernel in one io_uring_enter, which also reaps. Requests
// whose opcode the running kernel lacks (or that configuration hides) take the POSIX-AIO
// emulation's routes instead: POLL_ADD on this ring for pollable fds, the shared workers for the
// rest, with identical results, counted per request kind.
#pragma once

#include "ring.hpp"

#include "../pool/worker_submitter.hpp"

#include <couring/backend.hpp>
#include <couring/unique_fd.hpp>

#include <sys/uio.h>

#include <array>
#include <bitset>
#include <memory>
#include <cstdint>
#include <string>

namespace couring::uring {

struct uring_options {
  ring_options ring;
  // Request kinds to run through the emulation even if the kernel has their opcode (tests use
  // this to exercise the per-op fallback on a kernel that has every opcode).
  std::bitset<request_kinds> hidden;
  bool msg_ring_wakeups = true;
  // A second, IORING_SETUP_IOPOLL ring for `.polled()` O_DIRECT reads and writes.
  bool iopoll = false;
};

class uring_backend final : public backend {
 public:
  // Throws std::system_error when io_uring cannot be used here; what() names the cause.
  uring_backend(scheduler& owner, pool::worker_pool& workers, const uring_options& options);
  ~uring_backend() override;

  void submit(op_base& op) noexcept override;
  void cancel(op_base& op) noexcept override;
  void cancel_all() noexcept override;
  void wait(bool block, std::int64_t deadline_ns) noexcept override;
  void wake() noexcept override;
  bool wake_other(backend& target) noexcept override;
  bool submit_linked(op_base* const* ops, std::size_t count, bool hard) noexcept override;
  result<std::unique_ptr<provided_buffers>> register_provided_buffers(unsigned entries) override;
  result<std::unique_ptr<registered_files>> register_files(unsigned slots) override;
  result<std::unique_ptr<registered_buffers>> register_buffers(const iovec* buffers, unsigned count) override;
  backend_kind kind() const noexcept override { return backend_kind::io_uring; }

  // Whether the kernel executes this request kind natively (false: the emulation does).
  bool native(std::size_t request_index) const noexcept override { return native_[request_index]; }
  // Whether it runs emulated although io_uring could express it: the kernel lacks the opcode, or
  // configuration hides it. (Kinds with no opcode at all, locks and offload, always run on the
  // workers by design; that is not a fallback.)
  bool emulated(std::size_t request_index) const noexcept { return !native_[request_index] && expressible_[request_index]; }
  std::string describe() const { return ring_.describe(); }

 private:
  // user_data is an op address (8-byte aligned) plus one of these tags in the low bits.
  enum tag : std::uintptr_t {
    tag_op = 0,
    tag_fallback_poll = 1,
    tag_link_timeout = 2,
    tag_wakeup = 3,         // this ring's eventfd read (no pointer)
    tag_woken = 4,          // another shard's MSG_RING arrived: its only job was to wake us
    tag_wake_failed = 5,    // our MSG_RING to the backend at this address failed: use its eventfd
  };
  static constexpr std::uintptr_t tag_mask = 7;

  io_uring_sqe* next_sqe() noexcept;
  io_uring_sqe* next_sqe_after_flush() noexcept;
  void flush() noexcept;
  void reap() noexcept;
  void dispatch(std::uint64_t user_data, int res, std::uint32_t flags) noexcept;
  void cqe_arrived(op_base& op) noexcept;
  void arm_fallback_deadline(op_base& op) noexcept;
  void arm_wakeup() noexcept;
  void fallback(op_base& op) noexcept;
  void arm_fallback_poll(op_base& op) noexcept;
  void on_fallback_ready(op_base& op, int res) noexcept;
  void prep_cancel(std::uint64_t target, int flags) noexcept;
  bool submit_polled(op_base& op) noexcept;
  void reap_polled() noexcept;

  scheduler& owner_;
  ring ring_;
  // The IOPOLL ring (null unless asked for and the kernel set it up) and the ops it holds: while
  // there are any, wait() polls instead of sleeping, since no interrupt will wake the loop.
  std::unique_ptr<ring> polled_ring_;
  unsigned polled_in_flight_ = 0;
  bool msg_ring_ = false;  // the kernel has IORING_OP_MSG_RING (5.18)
  std::uint16_t next_buffer_group_ = 0;
  std::array<bool, request_kinds> native_{};
  std::array<bool, request_kinds> expressible_{};
  pool::worker_submitter workers_;
  unique_fd wake_fd_;
  std::uint64_t wake_value_ = 0;
  iovec wake_iov_{&wake_value_, sizeof wake_value_};
};

}  // namespace couring::uring
