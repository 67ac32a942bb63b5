#include "io/backend/backend.hpp"

#include <couring/errors.hpp>
#include <couring/splice.hpp>
#include <couring/transfer.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <variant>

namespace couring {
namespace {

constexpr std::size_t chunk = 256 * 1024;  // per splice round: big enough to amortise the two ops
constexpr std::size_t default_pipe_size = 64 * 1024;

bool splice_is_native() noexcept {
  backend* io = backend::current();
  return io && io->native(kind_index<splice_req>);
}

task<result<std::size_t>> send_file_spliced(int out_fd, int in_fd, std::int64_t offset, std::size_t len) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) co_return std::error_code(errno, std::system_category());
  unique_fd pipe_out(fds[0]), pipe_in(fds[1]);
  // A larger pipe moves a chunk per round trip, but growing it costs more than a small body's
  // whole transfer: only for bodies bigger than the default 64 KiB (which still works if refused).
  if (len > default_pipe_size) (void)::fcntl(pipe_in.get(), F_SETPIPE_SZ, static_cast<int>(chunk));
  std::size_t sent = 0;
  while (sent < len) {
    auto in = co_await splice(in_fd, offset + static_cast<std::int64_t>(sent), pipe_in.get(), current_position,
                              std::min(chunk, len - sent));
    if (!in) co_return in.error();
    if (*in == 0) co_return error::end_of_file;
    for (std::size_t pending = *in; pending > 0;) {
      auto out = co_await splice(pipe_out.get(), current_position, out_fd, current_position, pending);
      if (!out) co_return out.error();
      pending -= *out;
      sent += *out;
    }
  }
  co_return sent;
}

task<result<std::size_t>> send_file_copied(int out_fd, int in_fd, std::int64_t offset, std::size_t len) {
  auto buf = std::make_unique<std::byte[]>(std::min(chunk, std::max<std::size_t>(len, 1)));
  std::size_t sent = 0;
  while (sent < len) {
    std::size_t want = std::min(chunk, len - sent);
    auto n = co_await read_at(in_fd, mutable_buffer(buf.get(), want), offset + static_cast<std::int64_t>(sent));
    if (!n) co_return n.error();
    if (*n == 0) co_return error::end_of_file;
    auto s = co_await send_all(out_fd, const_buffer(buf.get(), *n));
    if (!s) co_return s.error();
    sent += *n;
  }
  co_return sent;
}

}  // namespace

task<result<std::size_t>> send_file(int out_fd, int in_fd, std::int64_t offset, std::size_t len) {
  if (out_fd < 0 || in_fd < 0) co_return std::errc::bad_file_descriptor;
  if (offset < 0) co_return std::errc::invalid_argument;
  if (len == 0) co_return std::size_t{0};
  if (splice_is_native()) co_return co_await send_file_spliced(out_fd, in_fd, offset, len);
  co_return co_await send_file_copied(out_fd, in_fd, offset, len);
}

}  // namespace couring
