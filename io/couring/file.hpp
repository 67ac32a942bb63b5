// file: an open file with the file verbs as members. Destroying it closes the descriptor
// synchronously; `co_await f.close()` closes it through the backend and reports errors.
#pragma once

#include <couring/ops.hpp>
#include <couring/unique_fd.hpp>

#include <fcntl.h>

#include <cstdint>
#include <utility>

namespace couring {

class file {
 public:
  file() noexcept = default;
  explicit file(unique_fd fd) noexcept : fd_(std::move(fd)) {}

  // co_await file::open("data.bin", O_RDONLY) yields result<file>.
  [[nodiscard]] static io_awaitable<result<file>> open(const char* path, int flags, mode_t mode = 0644) noexcept {
    return open_at(AT_FDCWD, path, flags, mode);
  }
  [[nodiscard]] static io_awaitable<result<file>> open_at(int dirfd, const char* path, int flags,
                                                          mode_t mode = 0644) noexcept {
    if (!path) return io_awaitable<result<file>>::settled(-EFAULT);
    return io_awaitable<result<file>>(openat_req{dirfd, path, flags | O_CLOEXEC, mode});
  }

  bool is_open() const noexcept { return fd_.valid(); }
  int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] unique_fd release() noexcept { return std::move(fd_); }

  [[nodiscard]] size_awaitable read_at(mutable_buffer buf, std::int64_t offset) const noexcept {
    return couring::read_at(fd(), buf, offset);
  }
  [[nodiscard]] size_awaitable write_at(const_buffer buf, std::int64_t offset) const noexcept {
    return couring::write_at(fd(), buf, offset);
  }
  // At the current file position (shared with every duplicate of the descriptor).
  [[nodiscard]] size_awaitable read(mutable_buffer buf) const noexcept { return couring::read(fd(), buf); }
  [[nodiscard]] size_awaitable write(const_buffer buf) const noexcept { return couring::write(fd(), buf); }

  [[nodiscard]] statx_awaitable stat(unsigned mask = STATX_BASIC_STATS) const noexcept { return fstatx(fd(), mask); }
  [[nodiscard]] void_awaitable sync() const noexcept { return couring::fsync(fd()); }
  [[nodiscard]] void_awaitable datasync() const noexcept { return couring::fdatasync(fd()); }
  [[nodiscard]] void_awaitable allocate(std::int64_t offset, std::int64_t len, int mode = 0) const noexcept {
    return couring::fallocate(fd(), mode, offset, len);
  }
  [[nodiscard]] void_awaitable truncate(std::int64_t length) const noexcept { return couring::ftruncate(fd(), length); }

  // The file is closed (and empty) whatever the result says.
  [[nodiscard]] void_awaitable close() noexcept { return couring::close(std::move(fd_)); }

 private:
  unique_fd fd_;
};

}  // namespace couring
