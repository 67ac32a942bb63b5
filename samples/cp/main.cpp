// couring-cp: copies a file, or a tree with -r, with many reads and writes in flight.
//
//   couring-cp [-r] [--fsync] [--in-flight N] [--chunk KIB] [--backend auto|io_uring|thread_pool] SRC DST
//
// Like cp: a DST that is a directory receives SRC under its own name; the mode of every file and
// directory is preserved (not owners or times); with -r, symbolic links are copied as links and
// special files are skipped with a warning. On a terminal a progress bar runs while copying;
// the last line is always the throughput.
//
// Compare the paths: `couring-cp --backend io_uring big /tmp/x` against `--backend thread_pool`.
#include "../common/command_line.hpp"
#include "../common/directory.hpp"
#include "copy_file.hpp"

#include <couring/couring.hpp>

#include <fmt/core.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace couring;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::string_view usage =
    "usage: couring-cp [-r] [--fsync] [--in-flight N] [--chunk KIB] [--backend auto|io_uring|thread_pool] SRC DST\n"
    "  -r             copy directories recursively\n"
    "  --fsync        flush every copied file to the device before closing it\n"
    "  --in-flight N  chunks read or written at once per file (default 8)\n"
    "  --chunk KIB    chunk size in KiB (default 1024)\n";

constexpr unsigned files_in_flight = 4;  // a tree of small files needs concurrency across files

struct file_job {
  std::string from, to;
  mode_t mode;
  std::uint64_t size;
};

struct plan {
  std::vector<file_job> files;
  std::vector<std::pair<std::string, mode_t>> directories;  // modes applied last: a read-only
                                                             // directory must first receive its files
  int errors = 0;
  // Both print the reason and count an error; they return false so a failing step can end with
  // `co_return pl.complain(...)`.
  bool complain(const std::string& what, const std::string& path, std::error_code e) {
    return say(fmt::format("{} '{}': {}", what, path, e.message()));
  }
  bool say(const std::string& message) {
    fmt::print(stderr, "{}: {}\n", samples::program_name(), message);
    ++errors;
    return false;
  }
};

bool same_inode(const struct statx& a, const struct statx& b) {
  return a.stx_ino == b.stx_ino && a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor;
}

std::string parent_of(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The copy is written under a temporary name beside its destination (the same directory, so the
// final rename stays on one file system and is atomic) and renamed over it only once complete:
// an interrupted or failed copy never leaves a truncated or zero-filled file where the user
// expects their data, and an existing destination stays intact until the new one is whole. If
// the copy does not get that far, the destructor removes the temporary file; only a SIGKILL can
// leave one behind, and its name says what it is: ".couring-cp.XXXXXX" (in hex).
class temp_file {
 public:
  explicit temp_file(std::string to) : to_(std::move(to)) {}
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  ~temp_file() {
    // Synchronous on purpose: this runs while the copy is cancelled, when new ops would be
    // cancelled too, and an unlink is quick.
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  // Creates the temporary file, private (0600) and new (O_EXCL: never someone else's file).
  task<result<file>> create() {
    static std::mt19937_64 random{std::random_device{}()};  // names only need to be unlikely to collide
    std::string dir = parent_of(to_);
    for (int attempt = 0;; ++attempt) {
      std::string path = fmt::format("{}/.couring-cp.{:06x}", dir, random() & 0xffffff);
      auto f = co_await file::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
      if (f) path_ = std::move(path);
      if (f || f.error() != std::errc::file_exists || attempt == 100) co_return f;
    }
  }
  // Renames the complete copy over the destination; from then on it is the user's file.
  task<result<void>> commit() {
    auto r = co_await couring::rename(path_.c_str(), to_.c_str());
    if (r) path_.clear();
    co_return r;
  }

 private:
  std::string to_;
  std::string path_;  // empty until created, and again once committed
};

// Where a copy to `to` must land: cp writes through a symbolic link at the destination (the copy
// goes where it points), but not through one that points nowhere. Reports its own failure.
task<std::optional<std::string>> destination_through_links(plan& pl, const std::string& to) {
  auto l = co_await couring::statx(AT_FDCWD, to.c_str(), AT_SYMLINK_NOFOLLOW);
  if (!l || !S_ISLNK(l->stx_mode)) co_return to;
  auto resolved = co_await offload([&]() -> result<std::string> {
    std::unique_ptr<char, decltype(&std::free)> p(::realpath(to.c_str(), nullptr), &std::free);
    if (!p) return std::error_code(errno, std::system_category());
    return std::string(p.get());
  });
  if (!resolved) {
    if (resolved.error() == std::errc::no_such_file_or_directory)
      pl.say(fmt::format("not writing through dangling symlink '{}'", to));
    else
      pl.complain("cannot resolve", to, resolved.error());
    co_return std::nullopt;
  }
  co_return std::move(*resolved);
}

// Copies one file; reports its own failure. Returns whether it succeeded.
task<bool> copy_one(plan& pl, const file_job& job, const samples::copy_settings& s, samples::copy_progress& p) {
  auto in = co_await file::open(job.from.c_str(), O_RDONLY);
  if (!in) co_return pl.complain("cannot open", job.from, in.error());
  auto from = co_await couring::fstatx(in->fd());
  if (!from) co_return pl.complain("cannot stat", job.from, from.error());
  auto to = co_await destination_through_links(pl, job.to);
  if (!to) co_return false;
  // Copying a file onto itself (the same name, a hard link, a symlink to it, `cp d/f d/`) would
  // read back what is being replaced: GNU cp refuses, and so do we.
  if (auto dst = co_await couring::statx(AT_FDCWD, to->c_str(), 0); dst && same_inode(*from, *dst))
    co_return pl.say(fmt::format("'{}' and '{}' are the same file", job.from, job.to));

  temp_file temp(*to);
  auto out = co_await temp.create();
  if (!out) co_return pl.complain("cannot create a file beside", *to, out.error());
  if (job.size > 0) {
    // The final length first: every chunk then lands inside the file, in any order, and the
    // ranges the source has no data for stay holes.
    auto sized = co_await out->truncate(static_cast<std::int64_t>(job.size));
    if (!sized) co_return pl.complain("cannot copy", job.from, sized.error());
  }
  auto copied = co_await samples::copy_contents(*in, *out, job.size, s, p);
  if (!copied) co_return pl.complain("cannot copy", job.from, copied.error());
  // fchmod has no couring verb; it changes an inode in memory and does not wait for the disk.
  if (::fchmod(out->fd(), job.mode & 07777) < 0)
    co_return pl.complain("cannot set the mode of", *to, std::error_code(errno, std::system_category()));
  auto closed = co_await out->close();  // close reports what a delayed write-back error left
  if (!closed) co_return pl.complain("cannot copy", job.from, closed.error());
  auto renamed = co_await temp.commit();
  if (!renamed) co_return pl.complain("cannot replace", *to, renamed.error());
  co_return true;
}

// cp -r refuses to copy a directory into itself: the walk would meet its own copy and recurse
// until the path is too long. Whether `path` (which exists) lies inside `dir` is decided by
// climbing ".." from it and comparing inodes, so symlinks and odd spellings cannot hide it.
task<bool> lies_inside(const struct statx& dir, std::string path) {
  while (path.size() < PATH_MAX) {
    auto here = co_await couring::statx(AT_FDCWD, path.c_str(), 0);
    if (!here) co_return false;
    if (same_inode(*here, dir)) co_return true;
    path += "/..";
    auto up = co_await couring::statx(AT_FDCWD, path.c_str(), 0);
    if (!up || same_inode(*up, *here)) co_return false;  // the root is its own parent
  }
  co_return false;
}

// Walks the tree under `from`, creating the directories under `to` as it goes and collecting the
// files to copy. Symbolic links are recreated here (readlink and symlink are quick, through the pool).
task<void> plan_tree(plan& pl, std::string from, std::string to, mode_t mode) {
  pl.directories.emplace_back(to, mode);
  auto made = co_await couring::mkdir(to.c_str(), 0700);
  if (!made && made.error() != std::errc::file_exists) {
    pl.complain("cannot create directory", to, made.error());
    co_return;
  }
  auto dir = co_await couring::open(from.c_str(), O_RDONLY | O_DIRECTORY);
  if (!dir) {
    pl.complain("cannot open directory", from, dir.error());
    co_return;
  }
  auto entries = co_await samples::list_directory(dir->get());
  if (!entries) {
    pl.complain("cannot read directory", from, entries.error());
    co_return;
  }
  for (auto& e : *entries) {
    std::string src = from + "/" + e.name, dst = to + "/" + e.name;
    auto st = co_await couring::statx(dir->get(), e.name.c_str(), AT_SYMLINK_NOFOLLOW);
    if (!st) {
      pl.complain("cannot stat", src, st.error());
    } else if (S_ISDIR(st->stx_mode)) {
      co_await plan_tree(pl, src, dst, st->stx_mode);
    } else if (S_ISREG(st->stx_mode)) {
      pl.files.push_back({src, dst, st->stx_mode, st->stx_size});
    } else if (S_ISLNK(st->stx_mode)) {
      auto linked = co_await offload([&] {
        char target[PATH_MAX];
        ssize_t n = ::readlink(src.c_str(), target, sizeof target - 1);
        if (n < 0) return errno;
        target[n] = '\0';
        return ::symlink(target, dst.c_str()) < 0 ? errno : 0;
      });
      if (linked != 0) pl.complain("cannot copy symbolic link", src, std::error_code(linked, std::system_category()));
    } else {
      fmt::print(stderr, "{}: skipping special file '{}'\n", samples::program_name(), src);
    }
  }
}

// One of `files_in_flight` workers over the plan's files.
task<void> file_worker(plan& pl, std::size_t& next, const samples::copy_settings& s, samples::copy_progress& p) {
  while (next < pl.files.size()) {
    const file_job& job = pl.files[next++];
    (void)co_await copy_one(pl, job, s, p);
  }
}

std::string mib(double bytes) { return fmt::format("{:.1f} MiB", bytes / (1 << 20)); }

// Draws the bar at once, then five times a second until cancelled (when_any cancels it when the
// copy ends).
task<void> progress_bar(const samples::copy_progress& p, clock_type::time_point t0) {
  using namespace std::chrono_literals;
  for (;;) {
    double done = static_cast<double>(p.bytes_done), total = static_cast<double>(p.bytes_total);
    double fraction = total > 0 ? done / total : 1;
    int filled = static_cast<int>(fraction * 30);
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    fmt::print("\r[{:#<{}}{:-<{}}] {:3.0f}%  {} / {}  {}/s ", "", filled, "", 30 - filled, fraction * 100, mib(done),
               mib(total), mib(secs > 0 ? done / secs : 0));
    std::fflush(stdout);
    auto slept = co_await sleep_for(200ms);
    if (!slept) co_return;
  }
}

struct options {
  bool recursive = false;
  samples::copy_settings settings;
  std::string from, to;
};

task<int> copy_everything(options o) {
  plan pl;
  auto src = co_await couring::statx(AT_FDCWD, o.from.c_str(), o.recursive ? AT_SYMLINK_NOFOLLOW : 0);
  if (!src) {
    pl.complain("cannot stat", o.from, src.error());
    co_return 1;
  }
  // Into an existing directory: under SRC's own name, as cp does.
  std::string to = o.to;
  if (auto dst = co_await couring::statx(AT_FDCWD, to.c_str(), 0); dst && S_ISDIR(dst->stx_mode)) {
    std::string base = o.from;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    if (auto slash = base.rfind('/'); slash != std::string::npos) base.erase(0, slash + 1);
    to += "/" + base;
  }
  if (S_ISDIR(src->stx_mode)) {
    if (!o.recursive) {
      fmt::print(stderr, "{}: -r not specified; omitting directory '{}'\n", samples::program_name(), o.from);
      co_return 1;
    }
    if (co_await lies_inside(*src, to) || co_await lies_inside(*src, parent_of(to))) {
      pl.say(fmt::format("cannot copy a directory, '{}', into itself, '{}'", o.from, to));
      co_return 1;
    }
    co_await plan_tree(pl, o.from, to, src->stx_mode);
  } else if (S_ISREG(src->stx_mode)) {
    pl.files.push_back({o.from, to, src->stx_mode, src->stx_size});
  } else {
    fmt::print(stderr, "{}: '{}' is not a regular file or directory\n", samples::program_name(), o.from);
    co_return 1;
  }

  samples::copy_progress p;
  for (auto& f : pl.files) p.bytes_total += f.size;
  auto t0 = clock_type::now();
  std::size_t next = 0;
  std::vector<task<void>> workers;
  for (unsigned i = 0; i < files_in_flight; ++i) workers.push_back(file_worker(pl, next, o.settings, p));
  bool tty = ::isatty(STDOUT_FILENO) == 1;  // no bar in a pipe or a log file
  if (tty) {
    (void)co_await when_any(when_all(std::move(workers)), progress_bar(p, t0));
    fmt::print("\r\033[K");  // the bar's line is reused for the final line
  } else {
    co_await when_all(std::move(workers));
  }
  double secs = std::chrono::duration<double>(clock_type::now() - t0).count();

  for (auto it = pl.directories.rbegin(); it != pl.directories.rend(); ++it)  // deepest first
    if (::chmod(it->first.c_str(), it->second & 07777) < 0)
      pl.complain("cannot set the mode of", it->first, std::error_code(errno, std::system_category()));

  auto* rt = runtime::current();
  fmt::print("copied {} in {} file{} in {:.2f} s: {}/s ({})\n", mib(static_cast<double>(p.bytes_done)), p.files_done,
             p.files_done == 1 ? "" : "s", secs, mib(secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0),
             samples::describe_backend(*rt));
  co_return pl.errors ? 1 : 0;
}

task<int> cp_main(options o) {
  auto sigs = signal_set::open({SIGINT, SIGTERM});
  if (!sigs) throw std::system_error(sigs.error(), "signalfd");
  auto r = co_await when_any(sigs->wait(), copy_everything(std::move(o)));
  if (r.index == 0) {
    fmt::print(stderr, "\n{}: interrupted\n", samples::program_name());
    co_return 130;
  }
  co_return std::get<1>(r.value);
}

}  // namespace

int main(int argc, char** argv) {
  samples::runtime_options opts;
  options o;
  std::vector<std::string> paths;
  for (samples::command_line cl(argc, argv, usage); cl.next();) {
    if (cl.runtime_flag(opts, /*shards_apply=*/false)) continue;
    if (cl.is("-r") || cl.is("-R") || cl.is("--recursive")) o.recursive = true;
    else if (cl.is("--fsync")) o.settings.fsync = true;
    else if (cl.is("--in-flight")) o.settings.in_flight = static_cast<unsigned>(cl.number(1, 1024));
    else if (cl.is("--chunk")) o.settings.chunk = static_cast<std::size_t>(cl.number(4, 64 * 1024)) * 1024;
    else if (cl.is_flag()) cl.unknown();
    else paths.emplace_back(cl.arg());
  }
  if (paths.size() != 2) samples::command_line(argc, argv, usage).fail("wants exactly two paths: SRC DST");
  o.from = paths[0];
  o.to = paths[1];
  return samples::run_main(opts, cp_main(std::move(o)));
}
