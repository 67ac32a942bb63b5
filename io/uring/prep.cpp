#include "prep.hpp"

#include <couring/op.hpp>

#include <cstddef>
#include <utility>
#include <variant>

namespace couring::uring {
namespace {

static_assert(sizeof(kernel_timespec) == sizeof(__kernel_timespec) &&
                  offsetof(kernel_timespec, tv_nsec) == offsetof(__kernel_timespec, tv_nsec),
              "kernel_timespec must match the kernel's layout: the SQE points at it");

static_assert(cqe_flag_buffer == IORING_CQE_F_BUFFER && cqe_flag_more == IORING_CQE_F_MORE &&
                  cqe_buffer_shift == IORING_CQE_BUFFER_SHIFT,
              "op.hpp's completion flags must be the kernel's");

// Opcodes newer than the system's liburing headers (Debian 12 ships 2.3 / kernel 6.1 headers);
// the numbers are the kernel ABI, and the runtime probe decides whether they may be used.
constexpr int op_ftruncate = 55;  // Linux 6.9

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

// std::visit dispatches through a table of function pointers that GCC does not inline; prep runs
// once per op, so it visits with a chain of index tests the compiler folds into one switch. A
// request kind without an overload still fails to compile.
template <class F, std::size_t... I>
void visit_inline(F& f, const request& r, std::index_sequence<I...>) {
  (void)((r.index() == I ? (f(*std::get_if<I>(&r)), true) : false) || ...);
}
template <class F>
void visit_inline(F&& f, const request& r) {
  visit_inline(f, r, std::make_index_sequence<request_kinds>{});
}

__u64 offset_arg(std::int64_t offset) noexcept {
  // -1 asks for the current file position (IORING_FEAT_RW_CUR_POS).
  return static_cast<__u64>(offset);
}

}  // namespace

int opcode_of(const request& r) noexcept {
  return std::visit(overloaded{
                        [](const nop_req&) { return int{IORING_OP_NOP}; },
                        [](const read_req&) { return int{IORING_OP_READ}; },
                        [](const write_req&) { return int{IORING_OP_WRITE}; },
                        [](const readv_req&) { return int{IORING_OP_READV}; },
                        [](const writev_req&) { return int{IORING_OP_WRITEV}; },
                        [](const openat_req&) { return int{IORING_OP_OPENAT}; },
                        [](const close_req&) { return int{IORING_OP_CLOSE}; },
                        [](const statx_req&) { return int{IORING_OP_STATX}; },
                        [](const fsync_req&) { return int{IORING_OP_FSYNC}; },
                        [](const fallocate_req&) { return int{IORING_OP_FALLOCATE}; },
                        [](const ftruncate_req&) { return op_ftruncate; },
                        [](const unlinkat_req&) { return int{IORING_OP_UNLINKAT}; },
                        [](const renameat_req&) { return int{IORING_OP_RENAMEAT}; },
                        [](const mkdirat_req&) { return int{IORING_OP_MKDIRAT}; },
                        [](const timeout_req&) { return int{IORING_OP_TIMEOUT}; },
                        [](const socket_req&) { return int{IORING_OP_SOCKET}; },
                        [](const accept_req&) { return int{IORING_OP_ACCEPT}; },
                        [](const connect_req&) { return int{IORING_OP_CONNECT}; },
                        [](const recv_req&) { return int{IORING_OP_RECV}; },
                        [](const send_req&) { return int{IORING_OP_SEND}; },
                        [](const shutdown_req&) { return int{IORING_OP_SHUTDOWN}; },
                        [](const poll_req&) { return int{IORING_OP_POLL_ADD}; },
                        [](const flock_req&) { return no_opcode; },
                        [](const call_req&) { return no_opcode; },
                        [](const splice_req&) { return int{IORING_OP_SPLICE}; },
                        [](const tee_req&) { return int{IORING_OP_TEE}; },
                        [](const accept_multishot_req&) { return int{IORING_OP_ACCEPT}; },
                        [](const recv_multishot_req&) { return int{IORING_OP_RECV}; },
                        [](const send_zc_req&) { return int{IORING_OP_SEND_ZC}; },
                        [](const read_fixed_req&) { return int{IORING_OP_READ_FIXED}; },
                        [](const write_fixed_req&) { return int{IORING_OP_WRITE_FIXED}; },
                    },
                    r);
}

void prep(io_uring_sqe* sqe, const request& r, unsigned short ioprio) noexcept {
  visit_inline(
      overloaded{
          [&](const nop_req&) { io_uring_prep_nop(sqe); },
          [&](const read_req& a) {
            io_uring_prep_read(sqe, a.fd, a.buf, a.len, offset_arg(a.offset));
            sqe->ioprio = ioprio;
          },
          [&](const write_req& a) {
            io_uring_prep_write(sqe, a.fd, a.buf, a.len, offset_arg(a.offset));
            sqe->ioprio = ioprio;
          },
          [&](const readv_req& a) {
            io_uring_prep_readv(sqe, a.fd, a.iov, a.count, offset_arg(a.offset));
            sqe->ioprio = ioprio;
          },
          [&](const writev_req& a) {
            io_uring_prep_writev(sqe, a.fd, a.iov, a.count, offset_arg(a.offset));
            sqe->ioprio = ioprio;
          },
          [&](const openat_req& a) { io_uring_prep_openat(sqe, a.dirfd, a.path, a.flags, a.mode); },
          [&](const close_req& a) { io_uring_prep_close(sqe, a.fd); },
          [&](const statx_req& a) { io_uring_prep_statx(sqe, a.dirfd, a.path, a.flags, a.mask, a.out); },
          [&](const fsync_req& a) { io_uring_prep_fsync(sqe, a.fd, a.datasync ? IORING_FSYNC_DATASYNC : 0); },
          [&](const fallocate_req& a) { io_uring_prep_fallocate(sqe, a.fd, a.mode, a.offset, a.len); },
          // No liburing helper before 2.6: fd and length (in the offset field), everything else zero.
          [&](const ftruncate_req& a) {
            io_uring_prep_rw(op_ftruncate, sqe, a.fd, nullptr, 0, static_cast<__u64>(a.length));
          },
          [&](const unlinkat_req& a) { io_uring_prep_unlinkat(sqe, a.dirfd, a.path, a.flags); },
          [&](const renameat_req& a) {
            io_uring_prep_renameat(sqe, a.old_dirfd, a.old_path, a.new_dirfd, a.new_path, a.flags);
          },
          [&](const mkdirat_req& a) { io_uring_prep_mkdirat(sqe, a.dirfd, a.path, a.mode); },
          [&](const timeout_req& a) {
            // The kernel reads the timespec when the SQE is submitted; it lives in the op.
            io_uring_prep_timeout(sqe, reinterpret_cast<__kernel_timespec*>(const_cast<kernel_timespec*>(&a.when)), 0,
                                  IORING_TIMEOUT_ABS);
          },
          [&](const socket_req& a) { io_uring_prep_socket(sqe, a.domain, a.type, a.protocol, 0); },
          [&](const accept_req& a) { io_uring_prep_accept(sqe, a.fd, a.addr, a.addrlen, a.flags); },
          [&](const connect_req& a) { io_uring_prep_connect(sqe, a.fd, a.addr, a.addrlen); },
          [&](const recv_req& a) { io_uring_prep_recv(sqe, a.fd, a.buf, a.len, a.flags); },
          [&](const send_req& a) { io_uring_prep_send(sqe, a.fd, a.buf, a.len, a.flags); },
          [&](const shutdown_req& a) { io_uring_prep_shutdown(sqe, a.fd, a.how); },
          [&](const poll_req& a) { io_uring_prep_poll_add(sqe, a.fd, a.events); },
          // Unreachable: requests with no_opcode are never native.
          [&](const flock_req&) { io_uring_prep_nop(sqe); },
          [&](const call_req&) { io_uring_prep_nop(sqe); },
          [&](const splice_req& a) { io_uring_prep_splice(sqe, a.fd_in, a.off_in, a.fd_out, a.off_out, a.len, a.flags); },
          [&](const tee_req& a) { io_uring_prep_tee(sqe, a.fd_in, a.fd_out, a.len, a.flags); },
          [&](const accept_multishot_req& a) { io_uring_prep_multishot_accept(sqe, a.fd, nullptr, nullptr, a.flags); },
          [&](const recv_multishot_req& a) {
            io_uring_prep_recv_multishot(sqe, a.fd, nullptr, 0, a.flags);
            sqe->flags |= IOSQE_BUFFER_SELECT;  // the kernel picks a buffer of the group per completion
            sqe->buf_group = a.buffer_group;
          },
          [&](const send_zc_req& a) { io_uring_prep_send_zc(sqe, a.fd, a.buf, a.len, a.flags, 0); },
          [&](const read_fixed_req& a) {
            io_uring_prep_read_fixed(sqe, a.fd, a.buf, a.len, offset_arg(a.offset), a.buf_index);
            sqe->ioprio = ioprio;
          },
          [&](const write_fixed_req& a) {
            io_uring_prep_write_fixed(sqe, a.fd, a.buf, a.len, offset_arg(a.offset), a.buf_index);
            sqe->ioprio = ioprio;
          },
      },
      r);
}

}  // namespace couring::uring
