// thread_echo: one thread per connection with blocking calls, the oldest server design and the
// one the memory benchmark compares against: every idle connection costs a thread's stack pages
// and kernel task, on top of the socket.
//
//   thread_echo --port P
#include "../common/args.hpp"
#include "../common/nofile_limit.hpp"
#include "listen_socket.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace {

void echo(int fd) {
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t sent = ::send(fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (sent <= 0) {
        ::close(fd);
        return;
      }
      off += sent;
    }
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--port P]   (thread-per-connection echo server; 7000 by default)");
  auto port = static_cast<std::uint16_t>(a.number("port", 7000));
  bench::raise_nofile_limit(16384);
  int listener = bench::listen_on_loopback(port, false);
  bench::announce_ready("thread per connection");
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    bench::set_nodelay(fd);
    std::thread(echo, fd).detach();  // default stack: what such a server gets without tuning
  }
}
