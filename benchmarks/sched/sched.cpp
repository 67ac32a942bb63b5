// sched: what a message between two shards costs (issue 5).
//
//   round trip   shard 0 awaits on_shard(1, fn) in a loop: latency p50/p99 and round trips/s.
//                Baseline: two threads, a request queue and a reply queue (std::mutex + cv).
//   stream       shard 0 sends 64-bit values through a channel<std::uint64_t>(256) to a receiver
//                on shard 1: messages/s. Baseline: the same bounded queue (capacity 256) between
//                two threads.
//
// couring runs with two shards on io_uring (cross-shard wakeups by IORING_OP_MSG_RING, and by the
// eventfd with runtime_config::uring_msg_ring_wakeups = false) and on the thread-pool backend
// (eventfd). "wakeups/msg" is how many times a sleeping shard had to be woken per message: below
// 1 means bursts shared one wakeup.
//
//   sched [--seconds S] [--warmup S] [--reps N] [--quick] [--pin] [--json FILE] [--csv FILE]
//         [--workload round_trip|stream] [--system NAME]...     the whole matrix, a markdown table
//   sched --one --workload W --system NAME [--seconds S] [--warmup S] [--pin]
//                                                               one measurement, one JSON line
//
// NAME: "couring io_uring msg_ring", "couring io_uring eventfd", "couring thread pool",
// "mutex+condvar". Exit 77 when io_uring cannot run here (for --one with an io_uring system).
#include "cv_queue.hpp"

#include <couring/channel.hpp>
#include <couring/on_shard.hpp>
#include <couring/runtime.hpp>
#include <couring/task.hpp>
#include <couring/when_all.hpp>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }
std::int64_t ns_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

// ---- what one measurement produces ---------------------------------------------------------------

struct sample {
  std::uint64_t messages = 0;  // round trips, or messages streamed
  double seconds = 0;
  double p50_ns = 0, p99_ns = 0;  // round trip only
  double wakeups_per_msg = -1;    // couring only
  std::string backend;            // what actually ran
};

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]);
}

struct options {
  double seconds = 1.0;
  double warmup = 0.2;
  int reps = 5;
  bool pin = false;
  std::string json, csv;
  std::vector<std::string> workloads{"round_trip", "stream"};
  std::vector<std::string> systems{"couring io_uring msg_ring", "couring io_uring eventfd", "couring thread pool",
                                   "mutex+condvar"};
};

constexpr std::size_t stream_capacity = 256;
constexpr std::uint64_t stream_chunk = 4096;  // values sent between two looks at the clock

void pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// ---- couring ----------------------------------------------------------------------------------

couring::task<void> round_trips(std::vector<std::int64_t>& lat, double warmup, double seconds) {
  auto warm_end = steady::now() + std::chrono::duration<double>(warmup);
  while (steady::now() < warm_end) (void)co_await couring::on_shard(1, [] { return 0; });
  lat.reserve(1 << 20);
  auto end = steady::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    auto t0 = steady::now();
    int v = co_await couring::on_shard(1, [] { return 1; });
    auto t1 = steady::now();
    if (v != 1) std::exit(1);
    lat.push_back(ns_between(t0, t1));
    if (t1 >= end) break;
  }
}

couring::task<std::uint64_t> receive_all(couring::channel<std::uint64_t>& ch) {
  std::uint64_t n = 0, expect = 0;
  for (;;) {
    auto r = co_await ch.receive();
    if (!r) break;
    if (*r != expect++) {
      std::fprintf(stderr, "sched: stream out of order\n");
      std::exit(1);
    }
    ++n;
  }
  co_return n;
}

couring::task<std::uint64_t> send_for(couring::channel<std::uint64_t>& ch, double seconds) {
  auto end = steady::now() + std::chrono::duration<double>(seconds);
  std::uint64_t v = 0;
  do {
    for (std::uint64_t i = 0; i < stream_chunk; ++i) {
      auto r = co_await ch.send(v++);
      if (!r) {
        std::fprintf(stderr, "sched: send failed: %s\n", r.error().message().c_str());
        std::exit(1);
      }
    }
  } while (steady::now() < end);
  ch.close();
  co_return v;
}

couring::task<std::uint64_t> stream_once(double seconds) {
  couring::channel<std::uint64_t> ch(stream_capacity);
  auto receiver = couring::on_shard(1, [&ch] { return receive_all(ch); });
  auto [received, sent] = co_await couring::when_all(std::move(receiver), send_for(ch, seconds));
  if (received != sent) {
    std::fprintf(stderr, "sched: sent %llu, received %llu\n", static_cast<unsigned long long>(sent),
                 static_cast<unsigned long long>(received));
    std::exit(1);
  }
  co_return received;
}

couring::task<sample> couring_measure(const std::string& workload, double warmup, double seconds) {
  couring::runtime& rt = *couring::runtime::current();
  sample s;
  if (workload == "round_trip") {
    std::vector<std::int64_t> lat;
    // Wakeups are counted over the measured part only: the warmup has its own run.
    co_await round_trips(lat, warmup, 0);
    lat.clear();
    std::uint64_t w0 = rt.loop(0).wakeups + rt.loop(1).wakeups;
    auto start = steady::now();
    co_await round_trips(lat, 0, seconds);
    s.seconds = seconds_since(start);
    std::uint64_t w1 = rt.loop(0).wakeups + rt.loop(1).wakeups;
    s.messages = lat.size();
    s.p50_ns = percentile(lat, 0.50);
    s.p99_ns = percentile(lat, 0.99);
    s.wakeups_per_msg = static_cast<double>(w1 - w0) / (2.0 * static_cast<double>(s.messages));  // 2 per round trip
  } else {
    (void)co_await stream_once(warmup);
    std::uint64_t w0 = rt.loop(0).wakeups + rt.loop(1).wakeups;
    auto start = steady::now();
    s.messages = co_await stream_once(seconds);
    s.seconds = seconds_since(start);
    std::uint64_t w1 = rt.loop(0).wakeups + rt.loop(1).wakeups;
    s.wakeups_per_msg = static_cast<double>(w1 - w0) / static_cast<double>(s.messages);
  }
  co_return s;
}

std::optional<sample> run_couring(const std::string& system, const std::string& workload, const options& o) {
  couring::runtime_config c;
  c.shards = 2;
  c.pin_shards = o.pin;
  c.uring_msg_ring_wakeups = system != "couring io_uring eventfd";
  c.backend = system == "couring thread pool" ? couring::backend_choice::thread_pool : couring::backend_choice::io_uring;
  try {
    couring::runtime rt(c);
    sample s = rt.run(couring_measure(workload, o.warmup, o.seconds));
    s.backend = couring::backend_name(rt.backend());
    return s;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "sched: %s: %s\n", system.c_str(), e.what());
    return std::nullopt;
  }
}

// ---- the baseline -----------------------------------------------------------------------------

sample run_baseline(const std::string& workload, const options& o) {
  sample s;
  s.backend = "threads";
  if (workload == "round_trip") {
    bench::cv_queue<std::uint64_t> requests(1 << 20), replies(1 << 20);
    std::thread server([&] {
      if (o.pin) pin_this_thread(1);
      while (auto r = requests.pop()) replies.push(*r);
    });
    if (o.pin) pin_this_thread(0);
    auto one = [&](std::uint64_t i) {
      requests.push(i);
      return *replies.pop();
    };
    auto warm_end = steady::now() + std::chrono::duration<double>(o.warmup);
    for (std::uint64_t i = 0; steady::now() < warm_end; ++i) one(i);
    std::vector<std::int64_t> lat;
    lat.reserve(1 << 20);
    auto start = steady::now();
    auto end = start + std::chrono::duration<double>(o.seconds);
    for (std::uint64_t i = 0;; ++i) {
      auto t0 = steady::now();
      std::uint64_t back = one(i);
      auto t1 = steady::now();
      if (back != i) std::exit(1);
      lat.push_back(ns_between(t0, t1));
      if (t1 >= end) break;
    }
    s.seconds = seconds_since(start);
    requests.close();
    server.join();
    s.messages = lat.size();
    s.p50_ns = percentile(lat, 0.50);
    s.p99_ns = percentile(lat, 0.99);
  } else {
    auto once = [&](double seconds) {
      bench::cv_queue<std::uint64_t> q(stream_capacity);
      std::uint64_t received = 0;
      std::thread consumer([&] {
        if (o.pin) pin_this_thread(1);
        std::uint64_t expect = 0;
        while (auto v = q.pop()) {
          if (*v != expect++) std::exit(1);
          ++received;
        }
      });
      if (o.pin) pin_this_thread(0);
      auto end = steady::now() + std::chrono::duration<double>(seconds);
      std::uint64_t v = 0;
      do {
        for (std::uint64_t i = 0; i < stream_chunk; ++i) q.push(v++);
      } while (steady::now() < end);
      q.close();
      consumer.join();
      return received;
    };
    once(o.warmup);
    auto start = steady::now();
    s.messages = once(o.seconds);
    s.seconds = seconds_since(start);
  }
  return s;
}

std::optional<sample> measure(const std::string& system, const std::string& workload, const options& o) {
  if (system == "mutex+condvar") return run_baseline(workload, o);
  return run_couring(system, workload, o);
}

// ---- reporting --------------------------------------------------------------------------------

struct row {
  std::string workload, system;
  std::vector<double> rates;  // messages (or round trips) per second, one per repetition
  std::vector<double> p50, p99, wakeups;
  std::string backend;
  std::string failure;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string si(double v) {
  char buf[64];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.3g G", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.3g M", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.3g k", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string micros(double ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f µs", ns / 1000.0);
  return buf;
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

void print_table(const std::vector<row>& rows, const options& o, const std::string& load_before,
                 const std::string& load_after) {
  std::printf("\n### sched: cross-shard messaging, 2 shards (%u CPUs, load average %s before, %s after)\n\n",
              std::thread::hardware_concurrency(), load_before.c_str(), load_after.c_str());
  std::printf("%d repetitions of %.2g s each; median [min–max]. %s\n\n", o.reps, o.seconds,
              o.pin ? "Shards and baseline threads pinned to CPUs 0 and 1." : "Threads not pinned.");
  std::printf("| workload | system | rate | p50 | p99 | wakeups/msg | ÷ mutex+condvar |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const row& r : rows) {
    if (!r.failure.empty()) {
      std::printf("| %s | %s | %s | – | – | – | – |\n", r.workload.c_str(), r.system.c_str(), r.failure.c_str());
      continue;
    }
    const char* unit = r.workload == "round_trip" ? "round trips/s" : "msgs/s";
    auto [lo, hi] = std::minmax_element(r.rates.begin(), r.rates.end());
    std::string ratio = "–";
    for (const row& b : rows) {
      if (b.workload == r.workload && b.system == "mutex+condvar" && b.failure.empty() && &b != &r) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2fx", median(r.rates) / median(b.rates));
        ratio = buf;
      }
    }
    std::string lat50 = r.p50.empty() || r.workload != "round_trip" ? "–" : micros(median(r.p50));
    std::string lat99 = r.p99.empty() || r.workload != "round_trip" ? "–" : micros(median(r.p99));
    std::string wk = r.wakeups.empty() || median(r.wakeups) < 0 ? "–" : std::to_string(median(r.wakeups)).substr(0, 5);
    std::printf("| %s | %s | %s %s [%s–%s] | %s | %s | %s | %s |\n", r.workload.c_str(), r.system.c_str(),
                si(median(r.rates)).c_str(), unit, si(*lo).c_str(), si(*hi).c_str(), lat50.c_str(), lat99.c_str(),
                wk.c_str(), ratio.c_str());
  }
  std::printf("\nround trip: shard 0 awaits on_shard(1, fn) (a heap-allocated call, a task on shard 1, the reply);"
              " the baseline pushes a request and pops the reply. stream: channel<std::uint64_t>(256) vs a bounded "
              "queue of 256. Echo throughput with 1 vs 2 shards is not measured here (it needs the echo sample).\n");
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

void write_json(const std::string& path, const std::vector<row>& rows, const options& o, const std::string& load_before,
                const std::string& load_after) {
  std::ostringstream j;
  j << "{\"benchmark\": \"sched\", \"cpus\": " << std::thread::hardware_concurrency() << ", \"load_before\": \""
    << load_before << "\", \"load_after\": \"" << load_after << "\", \"seconds\": " << o.seconds
    << ", \"reps\": " << o.reps << ", \"pinned\": " << (o.pin ? "true" : "false") << ", \"results\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    if (i) j << ", ";
    j << "{\"workload\": \"" << r.workload << "\", \"system\": \"" << json_escape(r.system) << "\"";
    if (!r.failure.empty()) {
      j << ", \"failure\": \"" << json_escape(r.failure) << "\"}";
      continue;
    }
    auto [lo, hi] = std::minmax_element(r.rates.begin(), r.rates.end());
    j << ", \"backend\": \"" << r.backend << "\", \"unit\": \""
      << (r.workload == "round_trip" ? "round trips/s" : "messages/s") << "\", \"rate\": {\"median\": "
      << median(r.rates) << ", \"min\": " << *lo << ", \"max\": " << *hi << ", \"n\": " << r.rates.size()
      << "}, \"samples\": [";
    for (std::size_t k = 0; k < r.rates.size(); ++k) j << (k ? ", " : "") << r.rates[k];
    j << "]";
    if (r.workload == "round_trip") j << ", \"p50_ns\": " << median(r.p50) << ", \"p99_ns\": " << median(r.p99);
    if (!r.wakeups.empty() && median(r.wakeups) >= 0) j << ", \"wakeups_per_msg\": " << median(r.wakeups);
    j << "}";
  }
  j << "]}\n";
  std::ofstream(path) << j.str();
}

void write_csv(const std::string& path, const std::vector<row>& rows) {
  std::ofstream f(path);
  f << "benchmark,workload,system,backend,unit,rate_median,rate_min,rate_max,reps,p50_ns,p99_ns,wakeups_per_msg,failure\n";
  for (const row& r : rows) {
    if (!r.failure.empty()) {
      f << "sched," << r.workload << ",\"" << r.system << "\",,,,,,0,,,,\"" << r.failure << "\"\n";
      continue;
    }
    auto [lo, hi] = std::minmax_element(r.rates.begin(), r.rates.end());
    f << "sched," << r.workload << ",\"" << r.system << "\"," << r.backend << ","
      << (r.workload == "round_trip" ? "round trips/s" : "messages/s") << "," << median(r.rates) << "," << *lo << ","
      << *hi << "," << r.rates.size() << ",";
    if (r.workload == "round_trip") f << median(r.p50) << "," << median(r.p99);
    else f << ",";
    f << ",";
    if (!r.wakeups.empty() && median(r.wakeups) >= 0) f << median(r.wakeups);
    f << ",\n";
  }
}

// ---- arguments --------------------------------------------------------------------------------

// --help asks for this on stdout and succeeds; a bad argument gets it on stderr and fails.
[[noreturn]] void usage(bool asked = false) {
  std::fprintf(asked ? stdout : stderr,
               "usage: sched [--seconds S] [--warmup S] [--reps N] [--quick] [--pin] [--json FILE] [--csv FILE]\n"
               "             [--workload round_trip|stream]... [--system NAME]...\n"
               "       sched --one --workload W --system NAME [--seconds S] [--warmup S] [--pin]\n");
  std::exit(asked ? 0 : 2);
}

}  // namespace

int main(int argc, char** argv) {
  // The benchmark chooses backends and shard counts itself; the environment must not override.
  for (const char* v : {"COURING_BACKEND", "COURING_SHARDS", "COURING_URING_HIDE"}) {
    if (std::getenv(v)) {
      std::fprintf(stderr, "sched: ignoring %s\n", v);
      unsetenv(v);
    }
  }
  setenv("COURING_LOG", "quiet", 0);

  options o;
  bool one = false;
  std::vector<std::string> workloads, systems;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--seconds") o.seconds = std::stod(value());
    else if (a == "--warmup") o.warmup = std::stod(value());
    else if (a == "--reps") o.reps = std::max(1, std::stoi(value()));
    else if (a == "--quick") {
      o.seconds = 0.2;
      o.warmup = 0.05;
      o.reps = 3;
    } else if (a == "--pin") o.pin = true;
    else if (a == "--json") o.json = value();
    else if (a == "--csv") o.csv = value();
    else if (a == "--workload") workloads.push_back(value());
    else if (a == "--system") systems.push_back(value());
    else if (a == "--one") one = true;
    else usage(a == "--help" || a == "-h");
  }
  if (!workloads.empty()) o.workloads = workloads;
  if (!systems.empty()) o.systems = systems;
  for (auto& w : o.workloads)
    if (w != "round_trip" && w != "stream") usage();

  if (one) {
    if (o.workloads.size() != 1 || o.systems.size() != 1) usage();
    std::optional<sample> s = measure(o.systems[0], o.workloads[0], o);
    if (!s) return 77;
    std::printf("{\"backend\": \"%s\", \"workload\": \"%s\", \"ops\": %llu, \"seconds\": %.9g", s->backend.c_str(),
                o.workloads[0].c_str(), static_cast<unsigned long long>(s->messages), s->seconds);
    if (o.workloads[0] == "round_trip") std::printf(", \"p50_ns\": %.0f, \"p99_ns\": %.0f", s->p50_ns, s->p99_ns);
    if (s->wakeups_per_msg >= 0) std::printf(", \"wakeups_per_msg\": %.6f", s->wakeups_per_msg);
    std::printf("}\n");
    return 0;
  }

  std::string load_before = load_average();
  std::vector<row> rows;
  for (auto& w : o.workloads)
    for (auto& sys : o.systems) rows.push_back(row{w, sys, {}, {}, {}, {}, {}, {}});
  for (int rep = 0; rep < o.reps; ++rep) {
    // Every system of a workload back to back, in an order that rotates each round, so that a
    // drift of the machine's load hits all of them alike.
    for (std::size_t k = 0; k < rows.size(); ++k) {
      std::size_t per = o.systems.size();
      std::size_t group = k / per, pos = k % per;
      row& r = rows[group * per + (pos + static_cast<std::size_t>(rep)) % per];
      if (!r.failure.empty()) continue;
      std::optional<sample> s = measure(r.system, r.workload, o);
      if (!s) {
        r.failure = "skipped (backend unavailable)";
        continue;
      }
      r.backend = s->backend;
      r.rates.push_back(static_cast<double>(s->messages) / s->seconds);
      r.p50.push_back(s->p50_ns);
      r.p99.push_back(s->p99_ns);
      r.wakeups.push_back(s->wakeups_per_msg);
      std::fprintf(stderr, "[sched %d/%d] %s %s: %s/s\n", rep + 1, o.reps, r.workload.c_str(), r.system.c_str(),
                   si(r.rates.back()).c_str());
    }
  }
  std::string load_after = load_average();
  print_table(rows, o, load_before, load_after);
  if (!o.json.empty()) write_json(o.json, rows, o, load_before, load_after);
  if (!o.csv.empty()) write_csv(o.csv, rows);
  return 0;
}
