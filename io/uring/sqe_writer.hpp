// sqe_writer: how a request description's prep() fills an io_uring SQE, and the table of every
// kind's prep by request index. The descriptions name fields the way the kernel's ABI lays them
// out; this is the one place that knows liburing's struct. Private.
#pragma once

#include "io/backend/request_table.hpp"

#include <couring/request.hpp>

#include <liburing.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <variant>

namespace couring::uring {

class sqe_writer {
 public:
  // `fixed_files`: the op's descriptor fields name slots of a table the ring holds;
  // `install_slot` >= 0: its new descriptor goes straight into that slot.
  sqe_writer(io_uring_sqe* sqe, bool fixed_files, int install_slot) noexcept
      : sqe_(sqe), fixed_files_(fixed_files), install_slot_(install_slot) {}

  // The common shape of every SQE (io_uring_prep_rw): everything else zeroed.
  void rw(int opcode, int fd, const void* addr, std::uint32_t len, std::uint64_t offset) noexcept {
    io_uring_prep_rw(opcode, sqe_, fd, addr, len, offset);
  }
  void rw(int opcode, int fd, std::uint64_t addr, std::uint32_t len, std::uint64_t offset) noexcept {
    io_uring_prep_rw(opcode, sqe_, fd, reinterpret_cast<const void*>(static_cast<std::uintptr_t>(addr)), len, offset);
  }
  // The opcode's own flags word (open_flags, msg_flags, fsync_flags, splice_flags...: one union).
  void op_flags(std::uint32_t flags) noexcept { sqe_->open_flags |= flags; }
  void ioprio(std::uint16_t value) noexcept { sqe_->ioprio |= value; }
  void buf_index(std::uint16_t index) noexcept { sqe_->buf_index = index; }
  void select_buffer(std::uint16_t group) noexcept {
    sqe_->flags |= IOSQE_BUFFER_SELECT;  // the kernel picks a buffer of the group per completion
    sqe_->buf_group = group;
  }
  // splice/tee's input side (the output side is the SQE's own fd).
  void splice_in(int fd, std::uint64_t offset) noexcept {
    sqe_->splice_fd_in = fd;
    sqe_->splice_off_in = offset;
    if (fixed_files_) sqe_->splice_flags |= SPLICE_F_FD_IN_FIXED;
  }
  bool installs() const noexcept { return install_slot_ >= 0; }

  // After prep: the registered-file marks, and the op's I/O priority where the kind takes one.
  void finish(bool takes_ioprio, std::uint16_t op_ioprio) noexcept {
    if (fixed_files_) sqe_->flags |= IOSQE_FIXED_FILE;
    if (install_slot_ >= 0) sqe_->file_index = static_cast<__u32>(install_slot_) + 1;  // "slot + 1": 0 means none
    if (takes_ioprio) sqe_->ioprio = op_ioprio;
  }

 private:
  io_uring_sqe* sqe_;
  bool fixed_files_;
  int install_slot_;
};

using prep_fn = void (*)(sqe_writer&, const request&) noexcept;

namespace preps {
template <class R>
constexpr prep_fn prep_of() noexcept {
  if constexpr (kernel_op(R::facts.uring).expressible())
    return [](sqe_writer& s, const request& r) noexcept { R::prep(s, *std::get_if<R>(&r)); };
  else
    return nullptr;
}
template <std::size_t... I>
constexpr std::array<prep_fn, sizeof...(I)> make_preps(std::index_sequence<I...>) noexcept {
  return {prep_of<std::variant_alternative_t<I, request>>()...};
}
}  // namespace preps

// nullptr for kinds io_uring cannot express (they never reach the ring).
inline constexpr std::array<prep_fn, request_kinds> prep_table = preps::make_preps(std::make_index_sequence<request_kinds>{});

}  // namespace couring::uring
