#include <couring/errors.hpp>
#include <couring/ops.hpp>
#include <couring/transfer.hpp>

namespace couring {

task<result<void>> read_exactly(int fd, mutable_buffer buf, std::int64_t offset) {
  while (!buf.empty()) {
    auto n = offset == current_position ? co_await read(fd, buf) : co_await read_at(fd, buf, offset);
    if (!n) co_return n.error();
    if (*n == 0) co_return error::end_of_file;
    buf = buf.subspan(*n);
    if (offset != current_position) offset += static_cast<std::int64_t>(*n);
  }
  co_return result<void>{};
}

task<result<void>> write_all(int fd, const_buffer buf, std::int64_t offset) {
  while (!buf.empty()) {
    auto n = offset == current_position ? co_await write(fd, buf) : co_await write_at(fd, buf, offset);
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
