// What every echo peer does before serving: a loopback TCP listener on the port the runner's
// harness chose, and one JSON line on stdout saying it is ready.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bench {

inline int listen_on_loopback(std::uint16_t port, bool nonblocking) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  int one = 1;
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(port);
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) < 0 || ::listen(fd, 4096) < 0) {
    std::fprintf(stderr, "listen on port %u: %s\n", port, std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

// Replies are one small message per request: never hold them back for Nagle.
inline void set_nodelay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

inline void announce_ready(const char* server) {
  std::printf("{\"server\": \"%s\"}\n", server);
  std::fflush(stdout);
}

}  // namespace bench
