#include <couring/socket.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>

namespace couring {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

result<unique_fd> listening_socket(const endpoint& at, int type_protocol_family, const listen_options& o) noexcept {
  unique_fd fd(::socket(type_protocol_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return last_error();
  int one = 1;
  if (type_protocol_family != AF_UNIX) {
    // Restarting a server must not fail for minutes on connections in TIME_WAIT.
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return last_error();
    if (o.reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) return last_error();
    if (type_protocol_family == AF_INET6) {
      int v6only = o.v6_only ? 1 : 0;
      if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) return last_error();
    }
  }
  if (::bind(fd.get(), at.data(), at.size()) < 0) return last_error();
  if (::listen(fd.get(), o.backlog) < 0) return last_error();
  return fd;
}

}  // namespace

result<endpoint> local_endpoint_of(int fd) noexcept {
  endpoint e;
  *e.size_ptr() = endpoint::capacity();
  if (::getsockname(fd, e.data(), e.size_ptr()) < 0) return last_error();
  return e;
}

result<endpoint> stream_socket::local_endpoint() const noexcept { return local_endpoint_of(fd()); }

result<endpoint> stream_socket::peer_endpoint() const noexcept {
  endpoint e;
  *e.size_ptr() = endpoint::capacity();
  if (::getpeername(fd(), e.data(), e.size_ptr()) < 0) return last_error();
  return e;
}

task<result<tcp_stream>> tcp_stream::connect(endpoint to) {
  if (to.family() != AF_INET && to.family() != AF_INET6) co_return std::errc::address_family_not_supported;
  auto fd = co_await couring::socket(to.family(), SOCK_STREAM);
  if (!fd) co_return fd.error();
  auto connected = co_await couring::connect(fd->get(), to.data(), to.size());
  if (!connected) co_return connected.error();
  co_return tcp_stream(std::move(*fd));
}

result<void> tcp_stream::set_nodelay(bool on) const noexcept {
  int v = on ? 1 : 0;
  if (::setsockopt(fd(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0) return last_error();
  return {};
}

task<result<unix_stream>> unix_stream::connect(std::string path) {
  auto to = endpoint::unix_path(path);
  if (!to) co_return to.error();
  auto fd = co_await couring::socket(AF_UNIX, SOCK_STREAM);
  if (!fd) co_return fd.error();
  auto connected = co_await couring::connect(fd->get(), to->data(), to->size());
  if (!connected) co_return connected.error();
  co_return unix_stream(std::move(*fd));
}

result<std::pair<unix_stream, unix_stream>> unix_stream::pair() noexcept {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) return last_error();
  return std::pair{unix_stream(unique_fd(fds[0])), unix_stream(unique_fd(fds[1]))};
}

result<tcp_listener> tcp_listener::bind(const endpoint& at, listen_options options) noexcept {
  if (at.family() != AF_INET && at.family() != AF_INET6) return std::errc::address_family_not_supported;
  auto fd = listening_socket(at, at.family(), options);
  if (!fd) return fd.error();
  return tcp_listener(std::move(*fd));
}

result<unix_listener> unix_listener::bind(const std::string& path, listen_options options) noexcept {
  auto at = endpoint::unix_path(path);
  if (!at) return at.error();
  auto fd = listening_socket(*at, AF_UNIX, options);
  if (!fd) return fd.error();
  return unix_listener(std::move(*fd));
}

}  // namespace couring
