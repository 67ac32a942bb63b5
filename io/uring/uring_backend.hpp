// uring_backend: the io_uring backend. Ops become SQEs whose user_data is the op's address; all
// SQEs of one loop turn go to the kernel in one io_uring_enter, which also reaps. Request kinds
// whose opcode the running kernel lacks (or that configuration hides) go to the POSIX-AIO
// emulation engine instead, which waits for readiness through POLL_ADD on this ring (this class
// is its readiness host) and uses the shared workers for the rest; counted per request kind.
#pragma once

#include "iopoll_ring.hpp"
#include "ring.hpp"

#include "io/backend/backend.hpp"
#include "io/emulation/engine.hpp"

#include <couring/unique_fd.hpp>

#include <sys/uio.h>

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
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

class uring_backend final : public backend, private emulation::readiness_host {
 public:
  // Throws std::system_error when io_uring cannot be used here; what() names the cause.
  uring_backend(scheduler& owner, emulation::worker_pool& workers, const uring_options& options);
  ~uring_backend() override;

  void submit(op_base& op) noexcept override;
  void cancel(op_base& op) noexcept override;
  void cancel_all() noexcept override;
  void wait(bool block, std::int64_t deadline_ns) noexcept override;
  void wake() noexcept override;
  bool wake_other(event_source& target) noexcept override;
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
  bool emulated(std::size_t request_index) const noexcept;
  std::string describe() const { return ring_.describe(); }

 private:
  // user_data is an op address (16-byte aligned) plus one of these tags in the low bits.
  enum tag : std::uintptr_t {
    tag_op = 0,
    tag_emulated_poll = 1,  // readiness of an op the emulation holds
    tag_link_timeout = 2,
    tag_wakeup = 3,         // this ring's eventfd read (no pointer)
    tag_woken = 4,          // another shard's MSG_RING arrived: its only job was to wake us
    tag_wake_failed = 5,    // our MSG_RING to the backend at this address failed: use its eventfd
  };
  static constexpr std::uintptr_t tag_mask = 7;

  // The readiness host the emulation waits through.
  int watch(op_base& op, int fd, std::uint32_t events) noexcept override;
  bool unwatch(op_base& op) noexcept override;

  io_uring_sqe* next_sqe() noexcept;
  io_uring_sqe* next_sqe_after_flush() noexcept;
  void prep_native(io_uring_sqe* sqe, op_base& op) noexcept;
  void flush() noexcept;
  void reap() noexcept;
  void dispatch(std::uint64_t user_data, int res, std::uint32_t flags) noexcept;
  void cqe_arrived(op_base& op) noexcept;
  void arm_wakeup() noexcept;
  void arm_emulated_poll(op_base& op) noexcept;
  void on_emulated_ready(op_base& op, int res) noexcept;
  void prep_cancel(std::uint64_t target, int flags) noexcept;
  bool submit_polled(op_base& op) noexcept;
  void poll_iopoll_ring() noexcept;

  ring ring_;
  // The IOPOLL ring (null unless asked for and the kernel set it up): while it holds ops, wait()
  // polls instead of sleeping, since no interrupt will wake the loop.
  std::unique_ptr<iopoll_ring> polled_ring_;
  bool msg_ring_ = false;  // the kernel has IORING_OP_MSG_RING (5.18)
  std::uint16_t next_buffer_group_ = 0;
  std::array<bool, request_kinds> native_{};
  emulation::engine engine_;
  unique_fd wake_fd_;
  std::uint64_t wake_value_ = 0;
  iovec wake_iov_{&wake_value_, sizeof wake_value_};
};

}  // namespace couring::uring
