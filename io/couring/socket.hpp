// Sockets with their verbs as members: tcp_stream / unix_stream (connected byte streams) and
// tcp_listener / unix_listener (bound, listening, accepting). Destroying one closes its
// descriptor synchronously; `co_await s.close()` closes it through the backend.
#pragma once

#include <couring/endpoint.hpp>
#include <couring/ops.hpp>
#include <couring/task.hpp>
#include <couring/unique_fd.hpp>

#include <sys/socket.h>

#include <string>
#include <utility>

namespace couring {

class stream_socket {
 public:
  stream_socket() noexcept = default;
  explicit stream_socket(unique_fd fd) noexcept : fd_(std::move(fd)) {}

  bool is_open() const noexcept { return fd_.valid(); }
  int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] unique_fd release() noexcept { return std::move(fd_); }

  [[nodiscard]] size_awaitable recv(mutable_buffer buf, int flags = 0) const noexcept { return couring::recv(fd(), buf, flags); }
  [[nodiscard]] size_awaitable send(const_buffer buf, int flags = 0) const noexcept { return couring::send(fd(), buf, flags); }
  [[nodiscard]] void_awaitable shutdown(int how = SHUT_WR) const noexcept { return couring::shutdown(fd(), how); }
  [[nodiscard]] void_awaitable close() noexcept { return couring::close(std::move(fd_)); }

  result<endpoint> local_endpoint() const noexcept;
  result<endpoint> peer_endpoint() const noexcept;

 protected:
  unique_fd fd_;
};

class tcp_stream : public stream_socket {
 public:
  using stream_socket::stream_socket;

  // Creates a socket of the endpoint's family and connects it (ECONNREFUSED, ETIMEDOUT...).
  static task<result<tcp_stream>> connect(endpoint to);

  result<void> set_nodelay(bool on) const noexcept;
};

class unix_stream : public stream_socket {
 public:
  using stream_socket::stream_socket;

  static task<result<unix_stream>> connect(std::string path);
  // Two connected streams (socketpair): handy for tests and for talking to a child process.
  static result<std::pair<unix_stream, unix_stream>> pair() noexcept;
};

struct listen_options {
  int backlog = SOMAXCONN;
  bool reuse_port = false;  // SO_REUSEPORT: one listener per shard, the kernel spreads connections
  bool v6_only = false;     // for an IPv6 endpoint: refuse IPv4-mapped connections
};

template <class Stream>
class basic_listener {
 public:
  basic_listener() noexcept = default;
  explicit basic_listener(unique_fd fd) noexcept : fd_(std::move(fd)) {}

  bool is_open() const noexcept { return fd_.valid(); }
  int fd() const noexcept { return fd_.get(); }

  // The next connection, as a Stream that owns its descriptor.
  [[nodiscard]] io_awaitable<result<Stream>> accept() const noexcept {
    if (fd() < 0) return io_awaitable<result<Stream>>::settled(-EBADF);
    return io_awaitable<result<Stream>>(accept_req{fd(), nullptr, nullptr, SOCK_CLOEXEC});
  }

  result<endpoint> local_endpoint() const noexcept { return stream_socket_local(fd()); }
  [[nodiscard]] void_awaitable close() noexcept { return couring::close(std::move(fd_)); }

 private:
  static result<endpoint> stream_socket_local(int fd) noexcept;
  unique_fd fd_;
};

class tcp_listener : public basic_listener<tcp_stream> {
 public:
  using basic_listener::basic_listener;
  // socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen. Port 0 picks a free port; read it
  // back with local_endpoint().
  static result<tcp_listener> bind(const endpoint& at, listen_options options = {}) noexcept;
};

class unix_listener : public basic_listener<unix_stream> {
 public:
  using basic_listener::basic_listener;
  // EADDRINUSE if the path exists: removing a stale socket file is the caller's decision.
  static result<unix_listener> bind(const std::string& path, listen_options options = {}) noexcept;
};

// getsockname, shared by streams and listeners.
result<endpoint> local_endpoint_of(int fd) noexcept;

template <class Stream>
result<endpoint> basic_listener<Stream>::stream_socket_local(int fd) noexcept {
  return local_endpoint_of(fd);
}

}  // namespace couring
