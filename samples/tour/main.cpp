// couring-tour: the demo's workloads, on whatever backend this process gets. scripts/tour runs it
// on io_uring, on the thread pool, and with io_uring denied by seccomp, and puts the three side by
// side; run alone, it prints what it measured on one path.
//
//   couring-tour [--seconds S] [--file-mib N] [--deny-io-uring ENOSYS|EPERM] [--machine]
//                [--backend auto|io_uring|thread_pool]
//
// Three workloads, each checking every byte it gets back:
//   file  writes a file of numbered blocks and reads it back from the page cache, 32 reads in flight
//   echo  an echo server and 16 closed-loop clients over loopback, 512-byte messages
//   http  the couring-http sample's connection handler serving a 64 KiB file to 16 keep-alive clients
// Each server runs on a second shard, so client and server have a thread each.
//
// Exit status: 0; 3 when a check failed (a wrong byte, a failed connection); 69 when the path asked
// for cannot run here (io_uring forced but unavailable, or no seccomp filter allowed); 2 for a bad
// command line; 1 for any other error.
#include "../common/command_line.hpp"
#include "deny_io_uring.hpp"
#include "echo_workload.hpp"
#include "file_workload.hpp"
#include "http_workload.hpp"

#include <couring/couring.hpp>

#include <fmt/core.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

using namespace couring;

namespace {

constexpr std::string_view usage =
    "usage: couring-tour [--seconds S] [--file-mib N] [--deny-io-uring ENOSYS|EPERM] [--machine]\n"
    "                    [--backend auto|io_uring|thread_pool]\n"
    "  --seconds S                how long each workload runs (default 2; the file is always read once)\n"
    "  --file-mib N               size of the generated file (default 128)\n"
    "  --deny-io-uring ERRNO      first deny io_uring to this process by seccomp, as a container profile\n"
    "                             does, so that automatic selection falls back and says why\n"
    "  --machine                  print 'key<TAB>value' lines for scripts/tour\n";

constexpr int exit_checks_failed = 3;

struct tour_options {
  double seconds = 2;
  std::size_t file_mib = 128;
  bool machine = false;
};

// A directory of our own under $TMPDIR, removed with everything in it when the tour ends,
// whichever way it ends.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/couring-tour-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::system_error(errno, std::system_category(), "mkdtemp " + pattern);
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void print_load(bool machine, std::string_view name, const tour::load_tally& t, std::string_view what) {
  if (machine) {
    fmt::print("{0}_per_s\t{1:.0f}\n{0}_p99_us\t{2:.0f}\n{0}_requests\t{3}\n{0}_wrong\t{4}\n{0}_failed\t{5}\n", name,
               t.per_second(), t.p99_us(), t.requests, t.wrong, t.failed);
  } else {
    fmt::print("{:5} {}: {:.0f} requests/s, p99 {:.0f} us ({} requests, {} wrong, {} failed connections)\n", name,
               what, t.per_second(), t.p99_us(), t.requests, t.wrong, t.failed);
  }
}

task<int> tour_main(tour_options o) {
  auto* rt = runtime::current();
  auto duration = std::chrono::duration_cast<tour::clock_type::duration>(std::chrono::duration<double>(o.seconds));
  temp_dir dir;
  if (o.machine) {
    fmt::print("backend\t{}\nreason\t{}\n", backend_name(rt->backend()), rt->backend_reason());
  } else {
    fmt::print("couring-tour: backend {} ({})\n", backend_name(rt->backend()), rt->backend_reason());
  }
  std::fflush(stdout);

  tour::file_workload fw;
  fw.path = dir.path() + "/blocks.bin";
  fw.file_bytes = o.file_mib << 20;
  fw.duration = duration;
  auto file = co_await tour::run_file_workload(fw);
  if (o.machine) {
    fmt::print("file_mib_per_s\t{:.0f}\nfile_bytes\t{}\nfile_wrong\t{}\n", file.mib_per_second(), file.bytes_read,
               file.wrong_reads);
  } else {
    fmt::print("file  {} MiB file, {} KiB reads, {} in flight: {:.0f} MiB/s ({} MiB read, {} wrong reads)\n", o.file_mib,
               fw.read_bytes >> 10, fw.in_flight, file.mib_per_second(), file.bytes_read >> 20, file.wrong_reads);
  }
  std::fflush(stdout);

  tour::echo_workload ew;
  ew.duration = duration;
  auto echo = co_await tour::run_echo_workload(ew);
  print_load(o.machine, "echo", echo, fmt::format("{} connections, {}-byte messages", ew.connections, ew.message_bytes));
  std::fflush(stdout);

  std::string www = dir.path() + "/www";
  if (::mkdir(www.c_str(), 0700) != 0) throw std::system_error(errno, std::system_category(), "mkdir " + www);
  tour::http_workload hw;
  hw.root = www;
  hw.duration = duration;
  auto http = co_await tour::run_http_workload(hw);
  print_load(o.machine, "http", http,
             fmt::format("{} keep-alive connections, {} KiB GETs", hw.connections, hw.body_bytes >> 10));

  bool clean = file.bytes_read > 0 && file.wrong_reads == 0 && echo.clean() && http.clean();
  if (!clean) fmt::print(stderr, "couring-tour: CHECKS FAILED: some bytes came back wrong or a connection failed\n");
  co_return clean ? 0 : exit_checks_failed;
}

}  // namespace

int main(int argc, char** argv) {
  samples::runtime_options opts;
  opts.shards = 2;  // clients on shard 0, servers on shard 1
  tour_options o;
  int deny = 0;
  samples::command_line cl(argc, argv, usage);
  while (cl.next()) {
    if (cl.runtime_flag(opts, /*shards_apply=*/false)) continue;
    if (cl.is("--seconds")) o.seconds = cl.decimal(0.01, 3600);
    else if (cl.is("--file-mib")) o.file_mib = static_cast<std::size_t>(cl.number(1, 65536));
    else if (cl.is("--machine")) o.machine = true;
    else if (cl.is("--deny-io-uring")) {
      std::string_view e = cl.value();
      if (e == "ENOSYS") deny = ENOSYS;
      else if (e == "EPERM") deny = EPERM;
      else cl.fail("--deny-io-uring wants ENOSYS or EPERM");
    } else cl.unknown();
  }
  // Before the runtime exists, so that every thread it starts is under the filter too. A machine
  // that allows no filter cannot show this path: that is "unavailable here", like a missing backend.
  if (deny != 0) {
    if (int r = couring::testing::deny_io_uring(deny); r < 0) {
      fmt::print(stderr, "couring-tour: cannot install the seccomp filter: {}\n", std::strerror(-r));
      return samples::exit_unavailable;
    }
  }
  return samples::run_main(opts, tour_main(o));
}
