// Requests: plain descriptions of one operation each, as the kernel would take them. A request says
// what to do; it never says how. Each backend turns every alternative of `request` into work
// (io/uring/prep.cpp: an SQE; io/pool/exec.cpp: one syscall), and std::visit makes the build fail
// if a backend forgets one.
//
// Results follow io_uring's convention on both backends: >= 0 is the value, < 0 is -errno.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <variant>

namespace couring {

// Same layout as the kernel's __kernel_timespec (static_assert in io/uring/prep.cpp).
struct kernel_timespec {
  std::int64_t tv_sec;
  long long tv_nsec;
};

// Offset meaning "the file's current position" (read/write on pipes, sockets, sequential files).
inline constexpr std::int64_t current_position = -1;

struct nop_req {};
struct read_req { int fd; void* buf; std::uint32_t len; std::int64_t offset; };
struct write_req { int fd; const void* buf; std::uint32_t len; std::int64_t offset; };
struct readv_req { int fd; const iovec* iov; unsigned count; std::int64_t offset; };
struct writev_req { int fd; const iovec* iov; unsigned count; std::int64_t offset; };
struct openat_req { int dirfd; const char* path; int flags; mode_t mode; };
struct close_req { int fd; };
struct statx_req { int dirfd; const char* path; int flags; unsigned mask; struct statx* out; };
struct fsync_req { int fd; bool datasync; };
struct fallocate_req { int fd; int mode; std::int64_t offset; std::int64_t len; };
struct ftruncate_req { int fd; std::int64_t length; };
struct unlinkat_req { int dirfd; const char* path; int flags; };
struct renameat_req { int old_dirfd; const char* old_path; int new_dirfd; const char* new_path; unsigned flags; };
struct mkdirat_req { int dirfd; const char* path; mode_t mode; };
// Completes with -ETIME when the absolute CLOCK_MONOTONIC time `when` passes.
struct timeout_req { kernel_timespec when; };
struct socket_req { int domain; int type; int protocol; };
struct accept_req { int fd; sockaddr* addr; socklen_t* addrlen; int flags; };
struct connect_req { int fd; const sockaddr* addr; socklen_t addrlen; };
struct recv_req { int fd; void* buf; std::uint32_t len; int flags; };
struct send_req { int fd; const void* buf; std::uint32_t len; int flags; };
struct shutdown_req { int fd; int how; };
// One-shot readiness: completes with the ready events (POLLIN, POLLOUT, POLLRDHUP, POLLERR...).
struct poll_req { int fd; unsigned events; };
// flock(2) without LOCK_NB: waits for the lock. No io_uring opcode exists, so it always runs on
// a worker, and a cancel interrupts it there (as it does a recv with MSG_WAITALL on a worker).
struct flock_req { int fd; int operation; };
// splice(2)/tee(2): moves bytes between a pipe and another fd inside the kernel. An offset of
// current_position means "none" (required for the pipe side).
struct splice_req { int fd_in; std::int64_t off_in; int fd_out; std::int64_t off_out; std::uint32_t len; unsigned flags; };
struct tee_req { int fd_in; int fd_out; std::uint32_t len; unsigned flags; };
// Multishot forms, used by accept_stream and recv_stream where io_uring runs them natively (elsewhere
// the streams loop over accept and recv instead): one SQE, many completions.
struct accept_multishot_req { int fd; int flags; };
struct recv_multishot_req { int fd; std::uint16_t buffer_group; int flags; };
// Zero-copy send: completes only once the kernel no longer reads the buffer (its notification).
struct send_zc_req { int fd; const void* buf; std::uint32_t len; int flags; };
// Reads and writes through a buffer registered with the ring (fixed_buffers): no page pinning per op.
struct read_fixed_req { int fd; void* buf; std::uint32_t len; std::int64_t offset; std::uint16_t buf_index; };
struct write_fixed_req { int fd; const void* buf; std::uint32_t len; std::int64_t offset; std::uint16_t buf_index; };
// Runs invoke(context) on a worker: offload() of a blocking or CPU-heavy callable.
struct call_req { void (*invoke)(void*) noexcept; void* context; };

using request = std::variant<nop_req, read_req, write_req, readv_req, writev_req, openat_req, close_req,
                             statx_req, fsync_req, fallocate_req, ftruncate_req, unlinkat_req, renameat_req,
                             mkdirat_req, timeout_req, socket_req, accept_req, connect_req, recv_req, send_req,
                             shutdown_req, poll_req, flock_req, call_req, splice_req, tee_req, accept_multishot_req,
                             recv_multishot_req, send_zc_req, read_fixed_req, write_fixed_req>;

inline constexpr std::size_t request_kinds = std::variant_size_v<request>;
static_assert(request_kinds <= 32, "scheduler::max_op_kinds counts completions per request kind");

// Stable short names ("read", "openat"...), indexed like `request`, for statistics and logs.
const char* request_name(std::size_t index) noexcept;

}  // namespace couring
