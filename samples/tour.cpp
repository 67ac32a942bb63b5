// couring-tour: the same two workloads a program of yours would run, on whatever backend this
// process got. scripts/tour runs it on io_uring, on the thread pool, and with io_uring denied by
// seccomp, and prints the three side by side.
//
//   file  - reads a generated file with many reads in flight and checks every byte
//   echo  - a loopback echo server and clients doing request/response round trips
#include <couring/couring.hpp>

#include <fmt/core.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace couring;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t file_size = 64u << 20;  // 64 MiB
constexpr std::size_t chunk = 64u << 10;      // 64 KiB per read
constexpr int readers = 32;                   // reads in flight
constexpr int echo_clients = 16;
constexpr int round_trips_per_client = 2000;
constexpr std::size_t message_size = 512;

std::uint8_t byte_at(std::size_t offset) { return static_cast<std::uint8_t>(offset * 31 + (offset >> 16)); }

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Writes the file with one big write per chunk so that the read phase below starts from the page cache.
task<result<void>> make_file(const std::string& path) {
  auto f = co_await file::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (!f) co_return f.error();
  std::vector<std::uint8_t> buf(chunk);
  for (std::size_t off = 0; off < file_size; off += chunk) {
    for (std::size_t i = 0; i < chunk; ++i) buf[i] = byte_at(off + i);
    auto w = co_await write_all(f->fd(), buffer(buf), static_cast<std::int64_t>(off));
    if (!w) co_return w.error();
  }
  co_return co_await f->close();
}

// One of `readers` coroutines: reads every readers-th chunk and checks its bytes.
task<std::size_t> read_stripe(const file& f, int stripe) {
  std::vector<std::uint8_t> buf(chunk);
  std::size_t bad = 0;
  for (std::size_t off = static_cast<std::size_t>(stripe) * chunk; off < file_size; off += readers * chunk) {
    auto r = co_await read_exactly(f.fd(), buffer(buf), static_cast<std::int64_t>(off));
    if (!r) throw std::system_error(r.error(), "read");
    for (std::size_t i = 0; i < chunk; ++i) bad += buf[i] != byte_at(off + i);
  }
  co_return bad;
}

task<void> serve_one(tcp_stream conn) {
  std::vector<char> buf(message_size);
  for (;;) {
    auto n = co_await conn.recv(buffer(buf));
    if (!n || *n == 0) co_return;
    auto sent = co_await send_all(conn.fd(), buffer(buf.data(), *n));
    if (!sent) co_return;
  }
}

task<void> accept_loop(const tcp_listener& listener, int connections) {
  for (int i = 0; i < connections; ++i) {
    auto conn = co_await listener.accept();
    if (!conn) throw std::system_error(conn.error(), "accept");
    spawn(serve_one(std::move(*conn)));
  }
}

task<int> echo_client(endpoint server) {
  auto conn = co_await tcp_stream::connect(server);
  if (!conn) throw std::system_error(conn.error(), "connect");
  std::vector<char> out(message_size, 'x'), in(message_size);
  int done = 0;
  for (int i = 0; i < round_trips_per_client; ++i) {
    auto sent = co_await send_all(conn->fd(), buffer(out));
    auto back = co_await recv_exactly(conn->fd(), buffer(in));
    if (!sent || !back) break;
    ++done;
  }
  co_return done;
}

task<void> tour(runtime& rt, bool machine_readable) {
  std::string path = fmt::format("{}/couring-tour-{}.bin", std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp", ::getpid());
  auto made = co_await make_file(path);
  if (!made) throw std::system_error(made.error(), "creating " + path);

  // Many reads in flight over one file.
  auto opened = co_await file::open(path.c_str(), O_RDONLY);
  if (!opened) throw std::system_error(opened.error(), "open");
  auto t0 = clock_type::now();
  std::vector<task<std::size_t>> stripes;
  std::size_t bad = 0;
  for (int s = 0; s < readers; ++s) stripes.push_back(read_stripe(*opened, s));
  for (auto& s : stripes) bad += co_await std::move(s);
  double file_s = seconds_since(t0);
  auto removed = co_await couring::unlink(path.c_str());
  (void)removed;

  // Echo round trips over loopback.
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  if (!listener) throw std::system_error(listener.error(), "bind");
  endpoint at = listener->local_endpoint().value();
  spawn(accept_loop(*listener, echo_clients));
  t0 = clock_type::now();
  std::vector<task<int>> clients;
  for (int c = 0; c < echo_clients; ++c) clients.push_back(echo_client(at));
  int trips = 0;
  for (auto& c : clients) trips += co_await std::move(c);
  double echo_s = seconds_since(t0);

  double mib_s = file_size / file_s / (1 << 20);
  double trips_s = trips / echo_s;
  if (machine_readable) {
    fmt::print("{}|{}|{:.0f}|{}|{:.0f}|{}\n", backend_name(rt.backend()), rt.backend_reason(), mib_s, bad, trips_s, trips);
  } else {
    fmt::print("backend: {} ({})\n", backend_name(rt.backend()), rt.backend_reason());
    fmt::print("file: read {} MiB with {} reads in flight: {:.0f} MiB/s, {} bad bytes\n", file_size >> 20, readers, mib_s, bad);
    fmt::print("echo: {} round trips of {} bytes over {} connections: {:.0f} round trips/s\n", trips, message_size,
               echo_clients, trips_s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool machine_readable = argc > 1 && std::strcmp(argv[1], "--machine") == 0;
  try {
    runtime rt;
    rt.run(tour(rt, machine_readable));
  } catch (const std::exception& e) {
    fmt::print(stderr, "couring-tour: {}\n", e.what());
    return 1;
  }
}
