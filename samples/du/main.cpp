// couring-du: disk usage of directory trees, like `du -s`, with the tree walked concurrently.
//
//   couring-du [-b | --apparent-size] [-h] [--backend auto|io_uring|thread_pool] DIR...
//
// Sizes are allocated blocks by default, exactly like `du -s` (1 KiB units); --apparent-size
// sums file lengths instead (`du --apparent-size -s`), -b prints those in bytes (`du -sb`), -h
// in human units (`du -sh`). Like du, a file with several hard links is counted once, symbolic
// links are not followed, and directories count their own size too.
//
// How: every directory is listed on the worker pool (common/directory.hpp: there is no getdents
// opcode), then all its entries are stat'ed at once with statx ops relative to the directory's
// descriptor, then its subdirectories are walked concurrently, up to `max_walkers` at a time.
#include "../common/command_line.hpp"
#include "../common/directory.hpp"

#include <couring/couring.hpp>

#include <fmt/core.h>

#include <csignal>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using namespace couring;

namespace {

constexpr std::string_view usage =
    "usage: couring-du [-b | --apparent-size] [-h] [--backend auto|io_uring|thread_pool] DIR...\n"
    "  (default)        allocated size in KiB, like du -s\n"
    "  --apparent-size  file lengths instead of allocated blocks, in KiB (du --apparent-size -s)\n"
    "  -b               file lengths in bytes (du -sb)\n"
    "  -h               human-readable units (du -sh)\n";

// Directories being walked concurrently: each holds a descriptor and a batch of statx ops.
// Beyond this a subdirectory is walked by its parent's coroutine, after its siblings.
constexpr unsigned max_walkers = 32;

struct walk_state {
  bool apparent = false;
  unsigned walkers = 0;
  int errors = 0;
  std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint64_t>> linked;  // (dev major, minor, inode)

  // An inode with several links is counted the first time one of its names is met.
  bool counted_before(const struct statx& st) {
    return !S_ISDIR(st.stx_mode) && st.stx_nlink > 1 &&
           !linked.emplace(st.stx_dev_major, st.stx_dev_minor, st.stx_ino).second;
  }
  // What one statx adds to the total.
  std::uint64_t size_of(const struct statx& st) {
    if (counted_before(st)) return 0;
    return apparent ? st.stx_size : st.stx_blocks * 512;
  }
  void complain(const std::string& what, const std::string& path, std::error_code e) {
    fmt::print(stderr, "{}: {} '{}': {}\n", samples::program_name(), what, path, e.message());
    ++errors;
  }
};

task<result<struct statx>> stat_entry(int dirfd, const std::string& name) {
  co_return co_await couring::statx(dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS);
}

task<std::uint64_t> walk(walk_state& w, std::string path);

// A concurrent walker: gives its slot back when done.
task<std::uint64_t> walk_counted(walk_state& w, std::string path) {
  std::uint64_t size = co_await walk(w, std::move(path));
  --w.walkers;
  co_return size;
}

task<std::uint64_t> walk_in_turn(walk_state& w, std::vector<std::string> paths) {
  std::uint64_t size = 0;
  for (auto& p : paths) size += co_await walk(w, std::move(p));
  co_return size;
}

// The size of everything below the directory `path` (not the directory itself).
task<std::uint64_t> walk(walk_state& w, std::string path) {
  auto dir = co_await couring::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (!dir) {
    w.complain("cannot read directory", path, dir.error());
    co_return 0;
  }
  auto entries = co_await samples::list_directory(dir->get());
  if (!entries) {
    w.complain("cannot read directory", path, entries.error());
    co_return 0;
  }
  // Every entry's statx in flight at once: the backend batches them (one io_uring_enter, or
  // the pool's workers in parallel).
  std::vector<task<result<struct statx>>> stats;
  stats.reserve(entries->size());
  for (auto& e : *entries) stats.push_back(stat_entry(dir->get(), e.name));
  auto results = co_await when_all(std::move(stats));
  dir = unique_fd{};  // closed before descending: open descriptors stay bounded by the walkers

  std::uint64_t size = 0;
  std::vector<task<std::uint64_t>> concurrent;
  std::vector<std::string> in_turn;
  for (std::size_t i = 0; i < results.size(); ++i) {
    std::string child = path + "/" + (*entries)[i].name;
    if (!results[i]) {
      w.complain("cannot access", child, results[i].error());
      continue;
    }
    size += w.size_of(*results[i]);
    if (!S_ISDIR(results[i]->stx_mode)) continue;
    if (w.walkers < max_walkers) {
      ++w.walkers;
      concurrent.push_back(walk_counted(w, std::move(child)));
    } else {
      in_turn.push_back(std::move(child));
    }
  }
  if (!in_turn.empty()) concurrent.push_back(walk_in_turn(w, std::move(in_turn)));
  auto subtotals = co_await when_all(std::move(concurrent));
  for (auto s : subtotals) size += s;
  co_return size;
}

// du -h: base 1024, rounded up, one decimal below 10 ("1.5K", "12M"), plain bytes below 1 KiB.
std::string human(std::uint64_t bytes) {
  static constexpr char units[] = "KMGTPEZY";
  if (bytes < 1024) return std::to_string(bytes);
  long double scaled = static_cast<long double>(bytes);
  int unit = -1;
  do {
    scaled /= 1024;
    ++unit;
  } while (scaled >= 1024 && unit < 7);
  long double tenths = std::ceil(scaled * 10);
  if (tenths < 100) return fmt::format("{}.{}{}", static_cast<int>(tenths) / 10, static_cast<int>(tenths) % 10, units[unit]);
  auto whole = static_cast<std::uint64_t>(std::ceil(scaled));
  if (whole >= 1024 && unit < 7) return fmt::format("1.0{}", units[unit + 1]);
  return fmt::format("{}{}", whole, units[unit]);
}

struct options {
  bool apparent = false;
  bool bytes = false;
  bool human = false;
  std::vector<std::string> paths;
};

task<int> du_all(options o) {
  walk_state w;
  w.apparent = o.apparent;
  for (auto& path : o.paths) {
    auto top = co_await couring::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW);
    if (!top) {
      w.complain("cannot access", path, top.error());
      continue;
    }
    if (w.counted_before(*top)) continue;  // du prints nothing for a file already counted under another name
    std::uint64_t size = w.apparent ? top->stx_size : top->stx_blocks * 512;
    if (S_ISDIR(top->stx_mode)) size += co_await walk(w, path);
    if (o.bytes) fmt::print("{}\t{}\n", size, path);
    else if (o.human) fmt::print("{}\t{}\n", human(size), path);
    else fmt::print("{}\t{}\n", (size + 1023) / 1024, path);
  }
  co_return w.errors ? 1 : 0;
}

task<int> du_main(options o) {
  auto sigs = signal_set::open({SIGINT, SIGTERM});
  if (!sigs) throw std::system_error(sigs.error(), "signalfd");
  // stdout carries du's output only; the startup line goes to stderr.
  fmt::print(stderr, "{}: {}\n", samples::program_name(), samples::describe_backend(*runtime::current()));
  auto r = co_await when_any(sigs->wait(), du_all(std::move(o)));
  if (r.index == 0) {
    fmt::print(stderr, "{}: interrupted\n", samples::program_name());
    co_return 130;
  }
  co_return std::get<1>(r.value);
}

}  // namespace

int main(int argc, char** argv) {
  samples::runtime_options opts;
  options o;
  for (samples::command_line cl(argc, argv, usage); cl.next();) {
    if (cl.runtime_flag(opts, /*shards_apply=*/false)) continue;
    if (cl.is("-b")) o.bytes = o.apparent = true;
    else if (cl.is("--apparent-size")) o.apparent = true;
    else if (cl.is("-h") || cl.is("--human-readable")) o.human = true;
    else if (cl.is("-s")) continue;  // a summary is all couring-du prints; accepted for du's sake
    else if (cl.is_flag()) cl.unknown();
    else o.paths.emplace_back(cl.arg());
  }
  if (o.paths.empty()) samples::command_line(argc, argv, usage).fail("which directory?");
  return samples::run_main(opts, du_main(std::move(o)));
}
