#include "file_workload.hpp"

#include <couring/couring.hpp>

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <vector>

using namespace couring;

namespace tour {
namespace {

// Every block starts with its own number, so a read that returns the right bytes from the wrong
// offset is caught; the rest is a fixed pattern, so checking a block is two memcmp calls.
constexpr std::size_t block_bytes = 4096;

std::vector<std::byte> block_pattern() {
  std::vector<std::byte> p(block_bytes);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::byte>(i * 131 + 7);
  return p;
}

void stamp(std::byte* block, std::uint64_t number) { std::memcpy(block, &number, sizeof number); }

std::uint64_t wrong_blocks(const std::vector<std::byte>& data, std::uint64_t first_block,
                           const std::vector<std::byte>& pattern) {
  std::uint64_t wrong = 0;
  for (std::size_t at = 0; at < data.size(); at += block_bytes) {
    std::uint64_t number = first_block + at / block_bytes;
    const std::byte* block = data.data() + at;
    bool same = std::memcmp(block, &number, sizeof number) == 0 &&
                std::memcmp(block + sizeof number, pattern.data() + sizeof number, block_bytes - sizeof number) == 0;
    wrong += same ? 0 : 1;
  }
  return wrong;
}

task<void> write_blocks(const std::string& path, std::size_t file_bytes, const std::vector<std::byte>& pattern) {
  auto f = co_await file::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (!f) throw std::system_error(f.error(), "creating " + path);
  std::vector<std::byte> chunk(1u << 20);
  for (std::size_t offset = 0; offset < file_bytes; offset += chunk.size()) {
    std::size_t n = std::min(chunk.size(), file_bytes - offset);
    for (std::size_t at = 0; at < n; at += block_bytes) {
      std::memcpy(chunk.data() + at, pattern.data(), block_bytes);
      stamp(chunk.data() + at, (offset + at) / block_bytes);
    }
    auto written = co_await write_all(f->fd(), buffer(chunk.data(), n), static_cast<std::int64_t>(offset));
    if (!written) throw std::system_error(written.error(), "writing " + path);
  }
  auto closed = co_await f->close();
  if (!closed) throw std::system_error(closed.error(), "closing " + path);
}

// Shared by the readers (all on one shard): which read comes next, and when to stop.
struct read_plan {
  int fd;
  std::uint64_t reads_per_pass;
  std::size_t read_bytes;
  clock_type::time_point end;
  std::uint64_t next = 0;
};

// One of the reads in flight: takes the next offset, reads it, checks it, and goes on.
task<void> reader(read_plan& plan, const std::vector<std::byte>& pattern, file_figures& out) {
  std::vector<std::byte> data(plan.read_bytes);
  for (;;) {
    std::uint64_t n = plan.next++;
    if (n >= plan.reads_per_pass && clock_type::now() >= plan.end) co_return;  // all read once, and time is up
    std::uint64_t offset = (n % plan.reads_per_pass) * plan.read_bytes;
    auto got = co_await couring::read_at(plan.fd, buffer(data), static_cast<std::int64_t>(offset));
    if (!got) throw std::system_error(got.error(), "read");
    out.bytes_read += *got;
    if (*got != data.size()) ++out.wrong_reads;
    else out.wrong_reads += wrong_blocks(data, offset / block_bytes, pattern);
  }
}

}  // namespace

task<file_figures> run_file_workload(const file_workload& w) {
  // Whole blocks per read and whole reads per file, so that every read can be checked alone.
  std::size_t read_bytes = std::max(block_bytes, w.read_bytes / block_bytes * block_bytes);
  std::size_t file_bytes = std::max(read_bytes, w.file_bytes / read_bytes * read_bytes);
  auto pattern = block_pattern();
  co_await write_blocks(w.path, file_bytes, pattern);

  auto f = co_await file::open(w.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (!f) throw std::system_error(f.error(), "opening " + w.path);
  file_figures out;
  auto t0 = clock_type::now();
  read_plan plan{f->fd(), file_bytes / read_bytes, read_bytes, t0 + w.duration, 0};
  std::vector<task<void>> readers;
  for (int i = 0; i < std::max(1, w.in_flight); ++i) readers.push_back(reader(plan, pattern, out));
  co_await when_all(std::move(readers));
  out.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();

  (void)co_await f->close();
  auto removed = co_await couring::unlink(w.path.c_str());
  if (!removed) throw std::system_error(removed.error(), "removing " + w.path);
  co_return out;
}

}  // namespace tour
