// epoll_echo: the plain epoll echo server a C programmer would write. One thread, level-triggered
// readiness, non-blocking sockets, one shared receive buffer (an idle connection owns nothing but
// its descriptor). A reply that does not fit in the socket's send buffer waits in a per-connection
// backlog until EPOLLOUT; with the benchmark's small messages that never happens, but an echo
// server that could drop bytes would not be a fair peer.
//
//   epoll_echo --port P
#include "../common/args.hpp"
#include "../common/nofile_limit.hpp"
#include "listen_socket.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <string>
#include <unordered_map>

namespace {

class server {
 public:
  explicit server(int listener) : listener_(listener), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    watch(listener_, EPOLLIN, EPOLL_CTL_ADD);
  }

  [[noreturn]] void run() {
    epoll_event events[256];
    for (;;) {
      int n = ::epoll_wait(epoll_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listener_) {
          accept_all();
        } else if (events[i].events & EPOLLOUT) {
          flush_backlog(fd);
        } else {
          echo(fd);
        }
      }
    }
  }

 private:
  void watch(int fd, unsigned events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    (void)::epoll_ctl(epoll_, op, fd, &ev);
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: the queue is empty (or EMFILE: try again on the next event)
      bench::set_nodelay(fd);
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  void echo(int fd) {
    ssize_t n = ::recv(fd, buf_, sizeof buf_, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return drop(fd);
    if (n < 0) return;
    ssize_t sent = ::send(fd, buf_, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) return drop(fd);
    if (sent < 0) sent = 0;
    if (sent < n) {
      backlog_[fd].append(buf_ + sent, static_cast<size_t>(n - sent));
      watch(fd, EPOLLOUT, EPOLL_CTL_MOD);  // stop reading until the backlog is out
    }
  }

  void flush_backlog(int fd) {
    std::string& pending = backlog_[fd];
    ssize_t sent = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) return drop(fd);
    if (sent > 0) pending.erase(0, static_cast<size_t>(sent));
    if (pending.empty()) {
      backlog_.erase(fd);
      watch(fd, EPOLLIN, EPOLL_CTL_MOD);
    }
  }

  void drop(int fd) {
    backlog_.erase(fd);
    ::close(fd);  // also removes it from the epoll set
  }

  int listener_;
  int epoll_;
  char buf_[16 * 1024];
  std::unordered_map<int, std::string> backlog_;
};

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--port P]   (plain epoll echo server; 7000 by default)");
  auto port = static_cast<std::uint16_t>(a.number("port", 7000));
  bench::raise_nofile_limit(16384);
  server s(bench::listen_on_loopback(port, true));
  bench::announce_ready("epoll");
  s.run();
}
