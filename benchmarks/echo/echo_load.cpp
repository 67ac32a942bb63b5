// echo_load: the one client that drives every echo server in the benchmark, so that the servers
// differ and nothing else does. Closed loop: each of N connections sends a message, waits for all
// of it to come back, and sends the next, so the offered load adapts to the server instead of
// queueing up behind it. Plain epoll and no couring inside: the client must favour nobody.
//
//   echo_load --port P --connections N --size BYTES --seconds S [--warmup S] [--server-pid PID]
//
// Prints one JSON line: requests (`ops`) over `seconds`, p50/p99 round-trip latency, and, with
// --server-pid, the server's CPU time (utime+stime from /proc/PID/stat) over exactly the measured
// interval, so that servers can be compared per CPU-second and not only per wall second.
#include "../common/args.hpp"
#include "../common/deadline.hpp"
#include "../common/loopback_client.hpp"
#include "../common/nofile_limit.hpp"
#include "../common/proc_stat.hpp"
#include "../common/report.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

struct connection {
  int fd = -1;
  std::size_t received = 0;           // bytes of the current echo so far
  bench::steady::time_point sent_at;  // when the current message went out
};

class load {
 public:
  load(std::uint16_t port, unsigned connections, std::size_t size)
      : conns_(connections), message_(size, std::byte{'x'}), sink_(size) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) bench::fail("epoll_create1");
    for (unsigned i = 0; i < connections; ++i) {
      conns_[i].fd = bench::connect_loopback(port);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, conns_[i].fd, &ev) < 0) bench::fail("epoll_ctl");
    }
    latencies_ns_.reserve(1 << 20);
  }

  ~load() {
    for (auto& c : conns_) ::close(c.fd);
    ::close(epoll_);
  }

  void start() {
    for (auto& c : conns_) send_message(c);
  }

  // Runs for `seconds`; returns the round trips completed meanwhile (latencies kept in order).
  std::uint64_t run_for(double seconds) {
    latencies_ns_.clear();
    bench::deadline limit(seconds, 16);
    std::uint64_t done = 0;
    epoll_event events[256];
    while (!limit.expired()) {
      int n = ::epoll_wait(epoll_, events, 256, 100);
      if (n < 0) {
        if (errno == EINTR) continue;
        bench::fail("epoll_wait");
      }
      if (n == 0) (void)limit.expired_after(16);  // a stalled server still ends the run on time
      for (int i = 0; i < n; ++i) {
        if (on_readable(conns_[events[i].data.u32])) {
          ++done;
          (void)limit.expired_after();
        }
      }
    }
    return done;
  }

  std::vector<std::uint32_t>& latencies() { return latencies_ns_; }

 private:
  void send_message(connection& c) {
    c.received = 0;
    c.sent_at = bench::steady::now();
    ssize_t n = ::send(c.fd, message_.data(), message_.size(), MSG_NOSIGNAL);
    // A message of at most a few hundred bytes always fits in an idle socket's send buffer.
    if (n != static_cast<ssize_t>(message_.size())) bench::fail("send (short or failed)");
  }

  // Returns whether a whole echo arrived (and the next message went out).
  bool on_readable(connection& c) {
    ssize_t n = ::recv(c.fd, sink_.data(), message_.size() - c.received, MSG_DONTWAIT);
    if (n == 0) {
      errno = ECONNRESET;
      bench::fail("server closed a connection");
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return false;
      bench::fail("recv");
    }
    c.received += static_cast<std::size_t>(n);
    if (c.received < message_.size()) return false;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(bench::steady::now() - c.sent_at).count();
    latencies_ns_.push_back(static_cast<std::uint32_t>(std::min<long long>(ns, UINT32_MAX)));
    send_message(c);
    return true;
  }

  int epoll_ = -1;
  std::vector<connection> conns_;
  std::vector<std::byte> message_;
  std::vector<std::byte> sink_;
  std::vector<std::uint32_t> latencies_ns_;
};

double percentile_us(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "--port P [--connections N] [--size BYTES] [--seconds S] [--warmup S] [--server-pid PID]");
  auto port = static_cast<std::uint16_t>(a.number("port", 7000));
  auto connections = static_cast<unsigned>(a.number("connections", 50));
  auto size = static_cast<std::size_t>(a.number("size", 64));
  double seconds = a.number("seconds", 1.0);
  double warmup = a.number("warmup", 0.2);
  auto server_pid = static_cast<int>(a.number("server-pid", 0));
  if (connections == 0 || size == 0) {
    std::fprintf(stderr, "echo_load: --connections and --size must be positive\n");
    return 2;
  }
  bench::raise_nofile_limit(connections + 16);

  load l(port, connections, size);
  l.start();
  (void)l.run_for(warmup);  // connections established, caches and the server's pools warm

  double cpu_before = server_pid ? bench::process_cpu_seconds(server_pid) : 0;
  auto start = bench::steady::now();
  std::uint64_t ops = l.run_for(seconds);
  double elapsed = bench::seconds_since(start);
  double cpu = server_pid ? bench::process_cpu_seconds(server_pid) - cpu_before : 0;

  bench::report r;
  r.add("ops", ops).add("seconds", elapsed).add("connections", std::uint64_t{connections})
      .add("size", std::uint64_t{size})
      .add("p50_us", percentile_us(l.latencies(), 0.50))
      .add("p99_us", percentile_us(l.latencies(), 0.99));
  if (server_pid) r.add("server_cpu_seconds", cpu);
  r.print();
}
