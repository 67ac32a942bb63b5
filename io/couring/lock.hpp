// Asynchronous file locks (flock(2) semantics: whole-file, advisory, owned by the open file
// description). There is no io_uring opcode for locking, so on both backends a waiting lock
// occupies a worker; cancelling it (stop token or with_timeout) interrupts the wait for real.
#pragma once

#include <couring/awaitable.hpp>
#include <couring/file.hpp>

#include <sys/file.h>

#include <cerrno>

namespace couring {

enum class lock_mode { shared, exclusive };

// Waits until the lock is granted. Cancelled while waiting: operation_canceled (or timed_out),
// and the lock is not held. If the grant wins the race with the cancel, the lock is held and the
// result says so (success).
[[nodiscard]] inline io_awaitable<result<void>> lock(int fd, lock_mode mode) noexcept {
  if (fd < 0) return io_awaitable<result<void>>::settled(-EBADF);
  return io_awaitable<result<void>>(flock_req{fd, mode == lock_mode::shared ? LOCK_SH : LOCK_EX});
}
[[nodiscard]] inline io_awaitable<result<void>> lock(const file& f, lock_mode mode) noexcept { return lock(f.fd(), mode); }

// Takes the lock only if it is free now: true if taken, false if another holder has it.
inline result<bool> try_lock(int fd, lock_mode mode) noexcept {
  if (::flock(fd, (mode == lock_mode::shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0) return true;
  if (errno == EWOULDBLOCK) return false;
  return std::error_code(errno, std::system_category());
}
inline result<bool> try_lock(const file& f, lock_mode mode) noexcept { return try_lock(f.fd(), mode); }

// Releasing never waits, so it is synchronous.
inline result<void> unlock(int fd) noexcept {
  if (::flock(fd, LOCK_UN) == 0) return {};
  return std::error_code(errno, std::system_category());
}
inline result<void> unlock(const file& f) noexcept { return unlock(f.fd()); }

}  // namespace couring
