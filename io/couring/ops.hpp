// The verbs: one function per operation, each returning an awaitable that yields result<T>.
// Arguments are checked here, before anything reaches a backend, so both backends reject bad input
// identically: a negative fd is EBADF, a negative offset EINVAL, and a zero-length transfer
// completes with 0 without a syscall.
#pragma once

#include <couring/awaitable.hpp>
#include <couring/buffer.hpp>
#include <couring/request.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <span>

namespace couring {

using void_awaitable = io_awaitable<result<void>>;
using size_awaitable = io_awaitable<result<std::size_t>>;
using fd_awaitable = io_awaitable<result<unique_fd>>;

namespace detail {
// Linux moves at most MAX_RW_COUNT bytes per call; longer requests come back short on both
// backends, which is what a caller of read(2) already handles.
inline constexpr std::size_t max_transfer = 0x7ffff000;
inline std::uint32_t clamp_transfer(std::size_t n) noexcept {
  return static_cast<std::uint32_t>(n > max_transfer ? max_transfer : n);
}
inline constexpr int send_flags_always = MSG_NOSIGNAL;  // a closed peer is EPIPE, never SIGPIPE
}  // namespace detail

[[nodiscard]] inline void_awaitable nop() noexcept { return void_awaitable(nop_req{}); }

// ---- reading and writing -------------------------------------------------------------------

// At the file's current position (pipes, sockets, sequential reads).
[[nodiscard]] inline size_awaitable read(int fd, mutable_buffer buf) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (buf.empty()) return size_awaitable::settled(0);
  return size_awaitable(read_req{fd, buf.data(), detail::clamp_transfer(buf.size()), current_position});
}

[[nodiscard]] inline size_awaitable read_at(int fd, mutable_buffer buf, std::int64_t offset) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (offset < 0) return size_awaitable::settled(-EINVAL);
  if (buf.empty()) return size_awaitable::settled(0);
  return size_awaitable(read_req{fd, buf.data(), detail::clamp_transfer(buf.size()), offset});
}

[[nodiscard]] inline size_awaitable write(int fd, const_buffer buf) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (buf.empty()) return size_awaitable::settled(0);
  return size_awaitable(write_req{fd, buf.data(), detail::clamp_transfer(buf.size()), current_position});
}

[[nodiscard]] inline size_awaitable write_at(int fd, const_buffer buf, std::int64_t offset) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (offset < 0) return size_awaitable::settled(-EINVAL);
  if (buf.empty()) return size_awaitable::settled(0);
  return size_awaitable(write_req{fd, buf.data(), detail::clamp_transfer(buf.size()), offset});
}

// Vectored I/O. The iovec array must stay valid until the op completes (it does while awaited).
// `offset` may be current_position.
[[nodiscard]] inline size_awaitable readv(int fd, std::span<const iovec> iov, std::int64_t offset = current_position) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (offset < current_position) return size_awaitable::settled(-EINVAL);
  if (iov.empty()) return size_awaitable::settled(0);
  return size_awaitable(readv_req{fd, iov.data(), static_cast<unsigned>(iov.size()), offset});
}

[[nodiscard]] inline size_awaitable writev(int fd, std::span<const iovec> iov, std::int64_t offset = current_position) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (offset < current_position) return size_awaitable::settled(-EINVAL);
  if (iov.empty()) return size_awaitable::settled(0);
  return size_awaitable(writev_req{fd, iov.data(), static_cast<unsigned>(iov.size()), offset});
}

// ---- files and directories -----------------------------------------------------------------

// O_CLOEXEC is always added: a descriptor leaking into a child process is never what the caller meant.
[[nodiscard]] inline fd_awaitable openat(int dirfd, const char* path, int flags, mode_t mode = 0644) noexcept {
  if (!path) return fd_awaitable::settled(-EFAULT);
  return fd_awaitable(openat_req{dirfd, path, flags | O_CLOEXEC, mode});
}
[[nodiscard]] inline fd_awaitable open(const char* path, int flags, mode_t mode = 0644) noexcept {
  return openat(AT_FDCWD, path, flags, mode);
}

[[nodiscard]] inline void_awaitable close(int fd) noexcept {
  if (fd < 0) return void_awaitable::settled(-EBADF);
  return void_awaitable(close_req{fd});
}
// Closes an owned descriptor; the caller gives up ownership whatever the outcome.
[[nodiscard]] inline void_awaitable close(unique_fd&& fd) noexcept { return close(fd.release()); }

class [[nodiscard]] statx_awaitable : public op_awaitable<statx_awaitable> {
 public:
  statx_awaitable(int dirfd, const char* path, int flags, unsigned mask) noexcept
      : op_awaitable(statx_req{dirfd, path, flags, mask, &buf_}) {
    if (!path) op_.complete_inline(-EFAULT);
  }
  // The request points at this awaitable's buffer: a move (allowed before submission) re-points it.
  statx_awaitable(statx_awaitable&& o) noexcept : op_awaitable(std::move(o)), buf_(o.buf_) {
    std::get<statx_req>(op_.req).out = &buf_;
  }
  result<struct statx> await_resume() noexcept {
    int r = finish();
    if (r < 0) return error_from_res(r);
    return buf_;
  }

 private:
  struct statx buf_ {};
};

// statx(2); for an open descriptor pass the fd as dirfd, "" as path and AT_EMPTY_PATH.
[[nodiscard]] inline statx_awaitable statx(int dirfd, const char* path, int flags = 0,
                                           unsigned mask = STATX_BASIC_STATS) noexcept {
  return statx_awaitable(dirfd, path, flags, mask);
}
[[nodiscard]] inline statx_awaitable fstatx(int fd, unsigned mask = STATX_BASIC_STATS) noexcept {
  return statx_awaitable(fd, "", AT_EMPTY_PATH, mask);
}

[[nodiscard]] inline void_awaitable fsync(int fd) noexcept {
  if (fd < 0) return void_awaitable::settled(-EBADF);
  return void_awaitable(fsync_req{fd, false});
}
[[nodiscard]] inline void_awaitable fdatasync(int fd) noexcept {
  if (fd < 0) return void_awaitable::settled(-EBADF);
  return void_awaitable(fsync_req{fd, true});
}

[[nodiscard]] inline void_awaitable fallocate(int fd, int mode, std::int64_t offset, std::int64_t len) noexcept {
  if (fd < 0) return void_awaitable::settled(-EBADF);
  if (offset < 0 || len <= 0) return void_awaitable::settled(-EINVAL);
  return void_awaitable(fallocate_req{fd, mode, offset, len});
}

// posix_fadvise: POSIX_FADV_WILLNEED, DONTNEED, SEQUENTIAL, RANDOM, NOREUSE or NORMAL for
// [offset, offset + len) (len 0: to the end of the file).
[[nodiscard]] inline void_awaitable fadvise(int fd, std::int64_t offset, std::int64_t len, int advice) noexcept {
  if (fd < 0) return void_awaitable::settled(-EBADF);
  if (offset < 0 || len < 0) return void_awaitable::settled(-EINVAL);
  return void_awaitable(fadvise_req{fd, offset, len, advice});
}

[[nodiscard]] inline void_awaitable ftruncate(int fd, std::int64_t length) noexcept {
  if (fd < 0) return void_awaitable::settled(-EBADF);
  if (length < 0) return void_awaitable::settled(-EINVAL);
  return void_awaitable(ftruncate_req{fd, length});
}

[[nodiscard]] inline void_awaitable unlinkat(int dirfd, const char* path, int flags = 0) noexcept {
  if (!path) return void_awaitable::settled(-EFAULT);
  return void_awaitable(unlinkat_req{dirfd, path, flags});
}
[[nodiscard]] inline void_awaitable unlink(const char* path) noexcept { return unlinkat(AT_FDCWD, path, 0); }
[[nodiscard]] inline void_awaitable rmdir(const char* path) noexcept { return unlinkat(AT_FDCWD, path, AT_REMOVEDIR); }

[[nodiscard]] inline void_awaitable renameat(int old_dirfd, const char* old_path, int new_dirfd, const char* new_path,
                                             unsigned flags = 0) noexcept {
  if (!old_path || !new_path) return void_awaitable::settled(-EFAULT);
  return void_awaitable(renameat_req{old_dirfd, old_path, new_dirfd, new_path, flags});
}
[[nodiscard]] inline void_awaitable rename(const char* old_path, const char* new_path) noexcept {
  return renameat(AT_FDCWD, old_path, AT_FDCWD, new_path);
}

[[nodiscard]] inline void_awaitable mkdirat(int dirfd, const char* path, mode_t mode = 0755) noexcept {
  if (!path) return void_awaitable::settled(-EFAULT);
  return void_awaitable(mkdirat_req{dirfd, path, mode});
}
[[nodiscard]] inline void_awaitable mkdir(const char* path, mode_t mode = 0755) noexcept {
  return mkdirat(AT_FDCWD, path, mode);
}

// ---- time ----------------------------------------------------------------------------------

class [[nodiscard]] sleep_awaitable : public op_awaitable<sleep_awaitable> {
 public:
  explicit sleep_awaitable(std::chrono::steady_clock::time_point deadline) noexcept
      : op_awaitable(timeout_req{to_timespec(deadline)}) {}

  // Expiry (-ETIME) is success for a sleep; cancellation is operation_canceled.
  result<void> await_resume() noexcept {
    int r = finish();
    return detail::make_result<result<void>>(r == -ETIME ? 0 : r);
  }

 private:
  // steady_clock is CLOCK_MONOTONIC on Linux, the clock both backends time against.
  static kernel_timespec to_timespec(std::chrono::steady_clock::time_point t) noexcept {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    if (ns < 0) ns = 0;
    return {ns / 1'000'000'000, ns % 1'000'000'000};
  }
};

[[nodiscard]] inline sleep_awaitable sleep_until(std::chrono::steady_clock::time_point deadline) noexcept {
  return sleep_awaitable(deadline);
}

template <class Rep, class Period>
[[nodiscard]] sleep_awaitable sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
  return sleep_awaitable(detail::saturating_deadline(d));
}

// ---- sockets -------------------------------------------------------------------------------

[[nodiscard]] inline fd_awaitable socket(int domain, int type, int protocol = 0) noexcept {
  return fd_awaitable(socket_req{domain, type | SOCK_CLOEXEC, protocol});
}

// The peer's address is written to addr/addrlen when given.
[[nodiscard]] inline fd_awaitable accept(int fd, sockaddr* addr = nullptr, socklen_t* addrlen = nullptr,
                                         int flags = 0) noexcept {
  if (fd < 0) return fd_awaitable::settled(-EBADF);
  return fd_awaitable(accept_req{fd, addr, addrlen, flags | SOCK_CLOEXEC});
}

[[nodiscard]] inline void_awaitable connect(int fd, const sockaddr* addr, socklen_t addrlen) noexcept {
  if (fd < 0) return void_awaitable::settled(-EBADF);
  if (!addr) return void_awaitable::settled(-EFAULT);
  return void_awaitable(connect_req{fd, addr, addrlen});
}

[[nodiscard]] inline size_awaitable recv(int fd, mutable_buffer buf, int flags = 0) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (buf.empty()) return size_awaitable::settled(0);
  return size_awaitable(recv_req{fd, buf.data(), detail::clamp_transfer(buf.size()), flags});
}

[[nodiscard]] inline size_awaitable send(int fd, const_buffer buf, int flags = 0) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (buf.empty()) return size_awaitable::settled(0);
  return size_awaitable(send_req{fd, buf.data(), detail::clamp_transfer(buf.size()), flags | detail::send_flags_always});
}

// Zero-copy send (io_uring, Linux 6.0+): the kernel sends from `buf` without copying it, and the
// op completes only once the kernel's notification says it no longer reads the buffer, so the
// buffer may be reused as soon as co_await returns. Elsewhere it is an ordinary (copying) send,
// with the same guarantee. Pays off for large buffers (tens of KiB and more).
[[nodiscard]] inline size_awaitable send_zc(int fd, const_buffer buf, int flags = 0) noexcept {
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (buf.empty()) return size_awaitable::settled(0);
  return size_awaitable(send_zc_req{fd, buf.data(), detail::clamp_transfer(buf.size()), flags | detail::send_flags_always});
}

[[nodiscard]] inline void_awaitable shutdown(int fd, int how) noexcept {
  if (fd < 0) return void_awaitable::settled(-EBADF);
  return void_awaitable(shutdown_req{fd, how});
}

// ---- readiness -----------------------------------------------------------------------------

// One-shot readiness: yields the ready events (POLLIN, POLLOUT, POLLRDHUP, POLLERR, POLLHUP).
[[nodiscard]] inline io_awaitable<result<unsigned>> poll(int fd, unsigned events) noexcept {
  if (fd < 0) return io_awaitable<result<unsigned>>::settled(-EBADF);
  return io_awaitable<result<unsigned>>(poll_req{fd, events});
}

}  // namespace couring
