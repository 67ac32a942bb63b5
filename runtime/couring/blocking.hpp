// Blocking-style wrappers for code that runs in a fiber (legacy code, C-library callbacks): each
// one suspends the calling fiber, not the thread, on the same op a task would co_await, and
// returns the same result. Outside a fiber they throw std::logic_error.
#pragma once

#include <couring/fiber.hpp>
#include <couring/file.hpp>
#include <couring/ops.hpp>
#include <couring/socket.hpp>
#include <couring/transfer.hpp>

#include <chrono>
#include <cstdint>

namespace couring::blocking {

inline result<std::size_t> read(int fd, mutable_buffer buf) { return this_fiber::await(couring::read(fd, buf)); }
inline result<std::size_t> read_at(int fd, mutable_buffer buf, std::int64_t offset) {
  return this_fiber::await(couring::read_at(fd, buf, offset));
}
inline result<std::size_t> write(int fd, const_buffer buf) { return this_fiber::await(couring::write(fd, buf)); }
inline result<std::size_t> write_at(int fd, const_buffer buf, std::int64_t offset) {
  return this_fiber::await(couring::write_at(fd, buf, offset));
}
inline result<void> read_exactly(int fd, mutable_buffer buf, std::int64_t offset = current_position) {
  return this_fiber::await(couring::read_exactly(fd, buf, offset));
}
inline result<void> write_all(int fd, const_buffer buf, std::int64_t offset = current_position) {
  return this_fiber::await(couring::write_all(fd, buf, offset));
}
inline result<std::size_t> recv(int fd, mutable_buffer buf, int flags = 0) {
  return this_fiber::await(couring::recv(fd, buf, flags));
}
inline result<std::size_t> send(int fd, const_buffer buf, int flags = 0) {
  return this_fiber::await(couring::send(fd, buf, flags));
}
inline result<void> send_all(int fd, const_buffer buf, int flags = 0) {
  return this_fiber::await(couring::send_all(fd, buf, flags));
}
inline result<void> recv_exactly(int fd, mutable_buffer buf) { return this_fiber::await(couring::recv_exactly(fd, buf)); }
inline result<file> open(const char* path, int flags, mode_t mode = 0644) {
  return this_fiber::await(file::open(path, flags, mode));
}
inline result<void> close(int fd) { return this_fiber::await(couring::close(fd)); }
inline result<tcp_stream> connect(const endpoint& to) { return this_fiber::await(tcp_stream::connect(to)); }
inline result<tcp_stream> accept(const tcp_listener& listener) { return this_fiber::await(listener.accept()); }
template <class Rep, class Period>
result<void> sleep_for(std::chrono::duration<Rep, Period> d) {
  return this_fiber::await(couring::sleep_for(d));
}

}  // namespace couring::blocking
