// idle_conns: what an idle connection costs a server, in its own memory and in the kernel's.
//
//   idle_conns --port P --server-pid PID [--connections 10000]
//
// Opens N connections to the server, one at a time, and exchanges one 64-byte echo on each, so
// that whatever the server sets up per connection (a task, a recv armed, a thread) exists; then
// lets everything settle and measures:
//   - the server's resident memory growth (VmRSS from /proc/PID/status) per connection;
//   - the kernel's: the system-wide growth of slab, kernel stacks, page tables and TCP buffer
//     pages (/proc/meminfo, /proc/net/sockstat) per connection, minus the client's end of it.
// The client's end is measured by calibration first: N loopback pairs inside this process, both
// ends plain blocking sockets with one echo exchanged, cost 2 x (one bare socket end); half of it
// is subtracted. The figure is system-wide, so other processes allocating meanwhile add noise:
// the runner repeats it and reports the median and spread.
//
// Prints one JSON line; `bytes_per_conn` = server RSS + server-end kernel bytes per connection.
#include "../common/args.hpp"
#include "../common/loopback_client.hpp"
#include "../common/nofile_limit.hpp"
#include "../common/proc_stat.hpp"
#include "../common/report.hpp"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t message_size = 64;

// Sends one message on `from` and receives all of it on `to`: an echo when both are the same
// socket (the server sends it back), a one-way trip between the two ends of a pair otherwise.
void pass_message(int from, int to) {
  char msg[message_size] = {'x'};
  if (::send(from, msg, sizeof msg, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof msg)) bench::fail("send");
  for (std::size_t got = 0; got < sizeof msg;) {
    ssize_t n = ::recv(to, msg, sizeof msg - got, 0);
    if (n <= 0) bench::fail("recv");
    got += static_cast<std::size_t>(n);
  }
}

// Freed sockets go back to the slab after an RCU grace period, and the server handles the last
// connections' echoes a moment after the client saw them: measure after things have settled.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(700)); }

void close_all(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

// Kernel bytes of one bare connected socket end (both ends in this process, see above).
double bare_socket_end_bytes(unsigned n) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof at;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at) < 0 || ::listen(listener, 64) < 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &len) < 0)
    bench::fail("calibration listener");
  std::vector<int> fds;
  fds.reserve(2 * n);
  settle();
  long long before = bench::kernel_bytes();
  for (unsigned i = 0; i < n; ++i) {
    int client = bench::connect_loopback(ntohs(at.sin_port));
    int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (server < 0) bench::fail("accept (calibration)");
    pass_message(client, server);  // the same traffic an echo makes
    pass_message(server, client);
    fds.push_back(client);
    fds.push_back(server);
  }
  settle();
  long long after = bench::kernel_bytes();
  close_all(fds);
  ::close(listener);
  return static_cast<double>(after - before) / (2.0 * n);
}

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "--port P --server-pid PID [--connections N]");
  auto port = static_cast<std::uint16_t>(a.number("port", 7000));
  auto server_pid = static_cast<int>(a.number("server-pid", 0));
  auto n = static_cast<unsigned>(a.number("connections", 10000));
  if (server_pid <= 0 || n == 0) {
    std::fprintf(stderr, "idle_conns: --server-pid and a positive --connections are needed\n");
    return 2;
  }
  bench::raise_nofile_limit(n + 64);
  // The calibration holds both ends of its pairs: as many as the descriptor limit allows (the
  // cost per socket end does not depend on how many there are).
  rlimit lim{};
  (void)::getrlimit(RLIMIT_NOFILE, &lim);
  auto pairs = static_cast<unsigned>(std::min<rlim_t>(n, (lim.rlim_cur - 64) / 2));
  double bare_end = bare_socket_end_bytes(pairs);

  std::vector<int> fds;
  fds.reserve(n);
  settle();
  auto start = std::chrono::steady_clock::now();
  long long rss_before = bench::resident_bytes(server_pid), kernel_before = bench::kernel_bytes();
  for (unsigned i = 0; i < n; ++i) {
    fds.push_back(bench::connect_loopback(port));
    pass_message(fds.back(), fds.back());
  }
  settle();
  long long rss_after = bench::resident_bytes(server_pid), kernel_after = bench::kernel_bytes();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (int fd : fds) pass_message(fd, fd);  // every connection still works: none was dropped to save memory
  close_all(fds);

  double user = static_cast<double>(rss_after - rss_before) / n;
  double kernel_both = static_cast<double>(kernel_after - kernel_before) / n;
  double kernel_server = kernel_both - bare_end;
  bench::report()
      .add("ops", std::uint64_t{n})
      .add("seconds", seconds)
      .add("bytes_per_conn", user + kernel_server)
      .add("user_bytes_per_conn", user)
      .add("kernel_bytes_per_conn", kernel_server)
      .add("kernel_both_ends_per_conn", kernel_both)
      .add("bare_socket_end_bytes", bare_end)
      .add("calibration_pairs", std::uint64_t{pairs})
      .print();
}
