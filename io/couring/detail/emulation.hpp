// What the request descriptions' emulation (emulate/attempt/exec) is written with: the syscall
// conventions of the POSIX-AIO path. Results are io_uring's: >= 0, or -errno. Not API.
#pragma once

#include <couring/detail/request_description.hpp>

#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>

namespace couring {

// Offset meaning "the file's current position" (read/write on pipes, sockets, sequential files).
inline constexpr std::int64_t current_position = -1;

namespace emulation {

// -errno for a failed call, the value otherwise.
template <class T>
int res_of(T r) noexcept {
  return r < 0 ? -errno : static_cast<int>(r);
}

// Non-blocking calls say "would block" in two spellings; the emulation uses one.
inline int normalise_again(int r) noexcept { return r == -EWOULDBLOCK ? -EAGAIN : r; }

// Whether the op the calling worker thread runs was cancelled (io/emulation/worker_pool.cpp): a
// cancel signals the worker, and the EINTR that follows must then end the call, not restart it.
bool cancel_requested_on_this_worker() noexcept;

// Retries a call interrupted by a signal, unless the signal meant "this op was cancelled".
template <class F>
int restarting(F&& call) noexcept {
  for (;;) {
    int r = call();
    if (r != -EINTR || cancel_requested_on_this_worker()) return r;
  }
}

// pread and pwrite need a seekable file. io_uring instead hands the position to the file's own
// read or write, and stream files decide: pipes, eventfds and ttys ignore it, sockets accept only
// 0 (ESPIPE otherwise). Same answers here: on ESPIPE, like glibc's AIO, the call is made at the
// current position, unless the file is a socket and the position not 0.
template <class AtOffset, class AtCurrent>
int positional(int fd, std::int64_t offset, AtOffset&& at_offset, AtCurrent&& at_current) noexcept {
  if (offset == current_position) return restarting(at_current);
  int r = restarting(at_offset);
  if (r != -ESPIPE) return r;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && offset != 0) return r;
  return restarting(at_current);
}

// The RWF_NOWAIT attempt of a read or write at the current position.
inline int nowait_readv(int fd, const iovec* iov, unsigned count) noexcept {
  return normalise_again(res_of(::preadv2(fd, iov, static_cast<int>(count), -1, RWF_NOWAIT)));
}
inline int nowait_writev(int fd, const iovec* iov, unsigned count) noexcept {
  return normalise_again(res_of(::pwritev2(fd, iov, static_cast<int>(count), -1, RWF_NOWAIT)));
}

// Attempts R now; waits for `events` on `fd` only if that would block.
template <class R>
emulation_plan attempt_or_wait(const R& r, int fd, std::uint32_t events) noexcept {
  int first = normalise_again(R::attempt(r));
  if (first == -EAGAIN) return when_ready(fd, events);
  return done(first);
}

// Reads and writes: at an offset, or on a regular file, directory or block device (which never
// report readiness, they block) a worker makes the call; pollable files (pipes, sockets, ttys)
// wait for readiness instead of pinning a worker.
template <class R>
emulation_plan stream_io(const R& r, int fd, std::int64_t offset, std::uint32_t events) noexcept {
  if (offset != current_position) return on_worker();
  struct stat st {};
  if (::fstat(fd, &st) < 0) return done(-errno);
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) return on_worker();
  int first = normalise_again(R::attempt(r));
  // Kernels before pipes learnt RWF_NOWAIT answer EOPNOTSUPP: such fds block on a worker.
  if (first == -EOPNOTSUPP) return on_worker();
  if (first == -EAGAIN) return when_ready(fd, events);
  return done(first);
}

}  // namespace emulation
}  // namespace couring
