// Request kinds that move bytes between a pipe and another descriptor inside the kernel.
#pragma once

#include <couring/detail/emulation.hpp>
#include <couring/detail/request_list.hpp>

#include <fcntl.h>

#include <cstdint>

namespace couring {

// splice(2): an offset of current_position means "none" (required for the pipe side).
struct splice_req {
  int fd_in;
  std::int64_t off_in;
  int fd_out;
  std::int64_t off_out;
  std::uint32_t len;
  unsigned flags;

  static constexpr request_facts facts{.name = "splice", .uring = uring_op::splice, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const splice_req& r) noexcept {
    s.rw(uring_op::splice, r.fd_out, nullptr, r.len, static_cast<std::uint64_t>(r.off_out));
    s.splice_in(r.fd_in, static_cast<std::uint64_t>(r.off_in));
    s.op_flags(r.flags);
  }
  static emulation_plan emulate(const splice_req&) noexcept { return emulation::on_worker(); }
  static int exec(const splice_req& r) noexcept {
    loff_t in = r.off_in, out = r.off_out;
    return emulation::restarting([&] {
      return emulation::res_of(::splice(r.fd_in, r.off_in == current_position ? nullptr : &in, r.fd_out,
                                        r.off_out == current_position ? nullptr : &out, r.len, r.flags));
    });
  }
  static constexpr auto descriptors() noexcept { return fields(&splice_req::fd_in, &splice_req::fd_out); }
  static std::uint64_t chain_minimum(const splice_req&) noexcept { return 0; }
};

// tee(2): duplicates up to `len` bytes from one pipe into another without consuming them.
struct tee_req {
  int fd_in;
  int fd_out;
  std::uint32_t len;
  unsigned flags;

  static constexpr request_facts facts{.name = "tee", .uring = uring_op::tee, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const tee_req& r) noexcept {
    s.rw(uring_op::tee, r.fd_out, nullptr, r.len, 0);
    s.splice_in(r.fd_in, 0);
    s.op_flags(r.flags);
  }
  static emulation_plan emulate(const tee_req&) noexcept { return emulation::on_worker(); }
  static int exec(const tee_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::tee(r.fd_in, r.fd_out, r.len, r.flags)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&tee_req::fd_in, &tee_req::fd_out); }
  static std::uint64_t chain_minimum(const tee_req&) noexcept { return 0; }
};

using pipe_requests = request_list<splice_req, tee_req>;

}  // namespace couring
