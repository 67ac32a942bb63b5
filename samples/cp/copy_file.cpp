#include "copy_file.hpp"

#include <couring/couring.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

namespace samples {
namespace {

struct extent {
  std::uint64_t begin, end;
};

// Runs on a worker (lseek may wait for the file system). The ranges of `fd` that hold data, as
// SEEK_DATA/SEEK_HOLE report them: the holes of a sparse file are left out, so that the copy
// stays sparse (the destination's holes come from its ftruncate). A file system that cannot say
// reports the whole file as data.
std::vector<extent> data_extents(int fd, std::uint64_t size) {
  std::vector<extent> out;
  auto at = static_cast<off_t>(0), end = static_cast<off_t>(size);
  while (at < end) {
    off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole from here to the end
      return {{static_cast<std::uint64_t>(at), size}};
    }
    if (data >= end) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0 || hole > end) hole = end;
    out.push_back({static_cast<std::uint64_t>(data), static_cast<std::uint64_t>(hole)});
    at = hole;
  }
  return out;
}

// The chunks of one file's data, handed out in order. Only the file's own coroutines touch it,
// all on one thread, so plain counters need no lock.
struct chunk_queue {
  std::vector<extent> extents;
  std::size_t current = 0;  // the extent `next` lies in
  std::uint64_t next = 0;
  std::size_t chunk;
  couring::result<void> failure;  // the first error; the other workers stop at their next chunk

  // The next chunk to copy, or false when the data is all handed out.
  bool take(std::uint64_t& offset, std::size_t& len) {
    while (current < extents.size() && next >= extents[current].end)
      if (++current < extents.size()) next = std::max(next, extents[current].begin);
    if (current == extents.size()) return false;
    offset = std::max(next, extents[current].begin);
    len = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, extents[current].end - offset));
    next = offset + len;
    return true;
  }
};

couring::task<void> worker(const couring::file& in, const couring::file& out, chunk_queue& q, copy_progress& p) {
  auto buf = std::make_unique<std::byte[]>(q.chunk);  // one buffer per worker, reused for every chunk
  std::uint64_t offset;
  std::size_t len;
  while (q.failure && q.take(offset, len)) {
    auto off = static_cast<std::int64_t>(offset);
    couring::mutable_buffer data(buf.get(), len);
    // The write is linked to the read (one IOSQE_IO_LINK chain where io_uring runs both): it
    // starts only once the read succeeded in full, with no round trip through this loop.
    auto [got, put] = co_await couring::chain(couring::read_at(in.fd(), data, off), couring::write_at(out.fd(), data, off));
    if (got && *got == len && put && *put == len) {
      p.bytes_done += len;
      continue;
    }
    if (!got) {
      q.failure = got.error();
      co_return;
    }
    // A short read or write ended the chain early: redo this chunk with the looping helpers
    // (reading and writing the same range again is harmless).
    auto r = co_await couring::read_exactly(in.fd(), data, off);
    if (!r) {
      q.failure = r.error();
      co_return;
    }
    auto w = co_await couring::write_all(out.fd(), data, off);
    if (!w) {
      q.failure = w.error();
      co_return;
    }
    p.bytes_done += len;
  }
}

}  // namespace

couring::task<couring::result<void>> copy_contents(const couring::file& in, const couring::file& out,
                                                   std::uint64_t size, const copy_settings& s, copy_progress& p) {
  chunk_queue q{{}, 0, 0, s.chunk, {}};
  try {
    q.extents = co_await couring::offload([fd = in.fd(), size] { return data_extents(fd, size); });
  } catch (const std::system_error& e) {
    co_return e.code();  // cancelled before a worker took it (the copy is being interrupted)
  }
  std::uint64_t data = 0, chunks = 0;
  for (auto& e : q.extents) {
    data += e.end - e.begin;
    chunks += (e.end - e.begin + s.chunk - 1) / s.chunk;
  }
  p.bytes_done += size - data;  // the holes are done already: the destination was ftruncated
  unsigned workers = static_cast<unsigned>(std::min<std::uint64_t>(s.in_flight, chunks));
  if (workers > 0) {
    std::vector<couring::task<void>> tasks;
    for (unsigned i = 0; i < workers; ++i) tasks.push_back(worker(in, out, q, p));
    co_await couring::when_all(std::move(tasks));
  }
  if (!q.failure) co_return q.failure;
  if (s.fsync) {
    auto synced = co_await out.sync();
    if (!synced) co_return synced.error();
  }
  ++p.files_done;
  co_return couring::result<void>{};
}

}  // namespace samples
