// couring-echo-client: a closed-loop load generator for echo servers (couring-echo or any other).
// Each of C connections sends an N-byte message, reads exactly N bytes back, checks them, and
// starts over, for D seconds; then it prints requests per second and latency percentiles.
//
//   couring-echo-client --port 7000 [--host 127.0.0.1] [-c 32] [-n 512] [-d 3] [--json]
//                       [--shards N] [--backend auto|io_uring|thread_pool]
//
// The connections are spread over the shards; each shard keeps its own tally (no sharing, no
// locks) and the tallies are merged at the end on shard 0. --json prints one JSON object instead
// of the two human lines, for the benchmarks.
#include "../common/command_line.hpp"
#include "histogram.hpp"

#include <couring/couring.hpp>

#include <fmt/core.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace couring;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::string_view usage =
    "usage: couring-echo-client --port P [--host ADDR] [-c CONNECTIONS] [-n BYTES] [-d SECONDS] [--json]\n"
    "                           [--shards N] [--backend auto|io_uring|thread_pool]\n"
    "  --host ADDR   server address, IPv4 or IPv6 (default 127.0.0.1)\n"
    "  -c N          connections (default 32)\n"
    "  -n BYTES      message size (default 512)\n"
    "  -d SECONDS    how long to run (default 3; decimals allowed)\n"
    "  --json        print the result as one JSON object\n"
    "  --shards N    threads the connections are spread over (default 1)\n";

struct load {
  endpoint server;
  std::size_t message_size;
  clock_type::time_point end;
};

// One shard's results. Its connections run on the shard's thread only, so plain counters do.
struct tally {
  samples::histogram latency_ns;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  void merge(const tally& o) {
    latency_ns.merge(o.latency_ns);
    requests += o.requests;
    errors += o.errors;
  }
};

task<void> connection(const load& l, tally& t, unsigned id) {
  auto conn = co_await tcp_stream::connect(l.server);
  if (!conn) {
    ++t.errors;
    co_return;
  }
  (void)conn->set_nodelay(true);
  std::vector<char> out(l.message_size), in(l.message_size);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>('a' + (i + id) % 26);
  // A server that stops answering must not hold the client past its run time.
  auto give_up = l.end + std::chrono::seconds(2);
  while (clock_type::now() < l.end) {
    auto t0 = clock_type::now();
    auto sent = co_await send_all(conn->fd(), const_buffer_of(out));
    if (!sent) break;
    std::size_t got = 0;
    while (got < in.size()) {
      auto n = co_await conn->recv(buffer(in.data() + got, in.size() - got)).with_deadline(give_up);
      if (!n || *n == 0) break;
      got += *n;
    }
    if (got != in.size() || std::memcmp(in.data(), out.data(), in.size()) != 0) break;
    t.latency_ns.record(static_cast<std::uint64_t>(std::chrono::nanoseconds(clock_type::now() - t0).count()));
    ++t.requests;
    out[0] = static_cast<char>(out[0] == 'z' ? 'a' : out[0] + 1);  // every message differs from the last
  }
  if (clock_type::now() < l.end) ++t.errors;  // the loop ended early: something failed
}

// Runs `connections` clients on the current shard and returns what they measured.
task<tally> shard_load(load l, unsigned connections, unsigned first_id) {
  tally t;
  std::vector<task<void>> clients;
  for (unsigned i = 0; i < connections; ++i) clients.push_back(connection(l, t, first_id + i));
  co_await when_all(std::move(clients));  // t and l outlive every client: they are awaited here
  co_return t;
}

task<tally> on(unsigned shard, task<tally> work) { co_return co_await submit_to(shard, std::move(work)); }

task<tally> run_load(load l, unsigned connections) {
  std::vector<task<tally>> shards;
  unsigned n = shard_count();
  for (unsigned k = 0, first = 0; k < n; ++k) {
    unsigned share = connections / n + (k < connections % n ? 1 : 0);
    shards.push_back(on(k, shard_load(l, share, first)));
    first += share;
  }
  auto results = co_await when_all(std::move(shards));
  tally total;
  for (auto& r : results) total.merge(r);
  co_return total;
}

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  unsigned connections = 32;
  std::size_t message_size = 512;
  double seconds = 3;
  bool json = false;
};

task<int> client_main(options o) {
  bool v6 = o.host.find(':') != std::string::npos;
  auto server = endpoint::parse((v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port));
  if (!server) {
    fmt::print(stderr, "{}: bad --host \"{}\"\n", samples::program_name(), o.host);
    co_return samples::exit_usage;
  }
  auto sigs = signal_set::open({SIGINT, SIGTERM});
  if (!sigs) throw std::system_error(sigs.error(), "signalfd");
  runtime& rt = *runtime::current();
  // With --json stdout carries the JSON object only.
  fmt::print(o.json ? stderr : stdout, "{}: {} connections to {}, {}-byte messages, {} s ({} shard{}, {})\n",
             samples::program_name(), o.connections, server->to_string(), o.message_size, o.seconds, rt.shards(),
             rt.shards() == 1 ? "" : "s", samples::describe_backend(rt));
  std::fflush(o.json ? stderr : stdout);

  auto t0 = clock_type::now();
  auto duration = std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.seconds));
  load l{*server, o.message_size, t0 + duration};
  auto outcome = co_await when_any(sigs->wait(), run_load(l, o.connections));
  if (outcome.index == 0) {
    fmt::print(stderr, "{}: interrupted\n", samples::program_name());
    co_return 1;
  }
  tally& t = std::get<1>(outcome.value);
  double elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  double rate = static_cast<double>(t.requests) / elapsed;
  auto us = [&](double q) { return static_cast<double>(t.latency_ns.percentile(q)) / 1000.0; };
  double max_us = static_cast<double>(t.latency_ns.max()) / 1000.0;
  if (o.json) {
    fmt::print(
        "{{\"connections\":{},\"message_bytes\":{},\"seconds\":{:.3f},\"requests\":{},\"errors\":{},"
        "\"requests_per_s\":{:.1f},\"latency_us\":{{\"p50\":{:.1f},\"p99\":{:.1f},\"p999\":{:.1f},\"max\":{:.1f}}},"
        "\"shards\":{},\"backend\":\"{}\"}}\n",
        o.connections, o.message_size, elapsed, t.requests, t.errors, rate, us(0.50), us(0.99), us(0.999), max_us,
        rt.shards(), backend_name(rt.backend()));
  } else {
    fmt::print("requests: {} in {:.2f} s = {:.0f} requests/s, errors: {}\n", t.requests, elapsed, rate, t.errors);
    fmt::print("latency: p50 {:.1f} us, p99 {:.1f} us, p999 {:.1f} us, max {:.1f} us\n", us(0.50), us(0.99),
               us(0.999), max_us);
  }
  co_return t.errors == 0 && t.requests > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  samples::runtime_options opts;
  options o;
  bool port_given = false;
  for (samples::command_line cl(argc, argv, usage); cl.next();) {
    if (cl.runtime_flag(opts)) continue;
    if (cl.is("--port")) {
      o.port = static_cast<std::uint16_t>(cl.number(1, 65535));
      port_given = true;
    } else if (cl.is("--host")) o.host = cl.value();
    else if (cl.is("-c")) o.connections = static_cast<unsigned>(cl.number(1, 100000));
    else if (cl.is("-n")) o.message_size = static_cast<std::size_t>(cl.number(1, 64 << 20));
    else if (cl.is("-d")) o.seconds = cl.decimal(0.01, 86400);
    else if (cl.is("--json")) o.json = true;
    else cl.unknown();
  }
  if (!port_given) samples::command_line(argc, argv, usage).fail("--port is required");
  return samples::run_main(opts, client_main(o));
}
