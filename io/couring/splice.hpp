// Moving bytes inside the kernel: splice, tee, and send_file built on splice (file -> pipe ->
// socket, no user-space copy).
#pragma once

#include <couring/awaitable.hpp>
#include <couring/ops.hpp>
#include <couring/task.hpp>

#include <fcntl.h>

#include <cstdint>

namespace couring {

// One side must be a pipe; offsets are for the other side (current_position: none).
[[nodiscard]] inline size_awaitable splice(int fd_in, std::int64_t off_in, int fd_out, std::int64_t off_out,
                                           std::size_t len, unsigned flags = SPLICE_F_MOVE) noexcept {
  if (fd_in < 0 || fd_out < 0) return size_awaitable::settled(-EBADF);
  if (off_in < current_position || off_out < current_position) return size_awaitable::settled(-EINVAL);
  if (len == 0) return size_awaitable::settled(0);
  return size_awaitable(splice_req{fd_in, off_in, fd_out, off_out, detail::clamp_transfer(len), flags});
}

// Duplicates up to `len` bytes from one pipe into another without consuming them.
[[nodiscard]] inline size_awaitable tee(int fd_in, int fd_out, std::size_t len, unsigned flags = 0) noexcept {
  if (fd_in < 0 || fd_out < 0) return size_awaitable::settled(-EBADF);
  if (len == 0) return size_awaitable::settled(0);
  return size_awaitable(tee_req{fd_in, fd_out, detail::clamp_transfer(len), flags});
}

// Sends `len` bytes of the file `in_fd` starting at `offset` to the socket (or pipe) `out_fd`
// and yields the count sent (all of it, or an error; couring::error::end_of_file if the file is
// shorter). Where the backend runs splice natively (io_uring) the bytes go file -> pipe -> socket
// inside the kernel; elsewhere they are read and sent through a buffer, so that a slow client
// never pins a worker thread.
task<result<std::size_t>> send_file(int out_fd, int in_fd, std::int64_t offset, std::size_t len);

}  // namespace couring
