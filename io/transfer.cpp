#include <couring/errors.hpp>
#include <couring/ops.hpp>
#include <couring/transfer.hpp>

namespace couring {
namespace {

// One read or write at the position the helper tracks. Kept out of a conditional expression:
// GCC 12 mishandles temporaries of a co_await inside ?: and inside macro-built expressions.
size_awaitable read_some(int fd, mutable_buffer buf, std::int64_t offset) noexcept {
  if (offset == current_position) return read(fd, buf);
  return read_at(fd, buf, offset);
}
size_awaitable write_some(int fd, const_buffer buf, std::int64_t offset) noexcept {
  if (offset == current_position) return write(fd, buf);
  return write_at(fd, buf, offset);
}

}  // namespace

task<result<void>> read_exactly(int fd, mutable_buffer buf, std::int64_t offset) {
  while (!buf.empty()) {
    auto n = co_await read_some(fd, buf, offset);
    if (!n) co_return n.error();
    if (*n == 0) co_return error::end_of_file;
    buf = buf.subspan(*n);
    if (offset != current_position) offset += static_cast<std::int64_t>(*n);
  }
  co_return result<void>{};
}

task<result<void>> write_all(int fd, const_buffer buf, std::int64_t offset) {
  while (!buf.empty()) {
    auto n = co_await write_some(fd, buf, offset);
    if (!n) co_return n.error();
    buf = buf.subspan(*n);
    if (offset != current_position) offset += static_cast<std::int64_t>(*n);
  }
  co_return result<void>{};
}

task<result<void>> send_all(int fd, const_buffer buf, int flags) {
  while (!buf.empty()) {
    auto n = co_await send(fd, buf, flags);
    if (!n) co_return n.error();
    buf = buf.subspan(*n);
  }
  co_return result<void>{};
}

task<result<void>> recv_exactly(int fd, mutable_buffer buf) {
  while (!buf.empty()) {
    auto n = co_await recv(fd, buf);
    if (!n) co_return n.error();
    if (*n == 0) co_return error::end_of_file;
    buf = buf.subspan(*n);
  }
  co_return result<void>{};
}

task<result<std::size_t>> read_to_end(int fd, std::string& out) {
  std::size_t total = 0;
  constexpr std::size_t chunk = 64 * 1024;
  for (;;) {
    std::size_t old_size = out.size();
    out.resize(old_size + chunk);
    auto n = co_await read(fd, buffer(out.data() + old_size, chunk));
    out.resize(old_size + (n ? *n : 0));
    if (!n) co_return n.error();
    if (*n == 0) co_return total;
    total += *n;
  }
}

}  // namespace couring
