#include "copy_file.hpp"

#include <couring/couring.hpp>

#include <algorithm>
#include <memory>
#include <vector>

namespace samples {
namespace {

// The chunks of one file, handed out in order. Only the file's own coroutines touch it, all on
// one thread, so a plain counter needs no lock.
struct chunk_queue {
  std::uint64_t next = 0;
  std::uint64_t size;
  std::size_t chunk;
  couring::result<void> failure;  // the first error; the other workers stop at their next chunk
};

couring::task<void> worker(const couring::file& in, const couring::file& out, chunk_queue& q, copy_progress& p) {
  auto buf = std::make_unique<std::byte[]>(q.chunk);  // one buffer per worker, reused for every chunk
  while (q.failure && q.next < q.size) {
    std::uint64_t offset = q.next;
    std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(q.chunk, q.size - offset));
    q.next += len;
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
  chunk_queue q{0, size, s.chunk, {}};
  std::uint64_t chunks = (size + s.chunk - 1) / s.chunk;
  unsigned workers = static_cast<unsigned>(std::min<std::uint64_t>(s.in_flight, std::max<std::uint64_t>(chunks, 1)));
  std::vector<couring::task<void>> tasks;
  for (unsigned i = 0; i < workers; ++i) tasks.push_back(worker(in, out, q, p));
  co_await couring::when_all(std::move(tasks));
  if (!q.failure) co_return q.failure;
  if (s.fsync) {
    auto synced = co_await out.sync();
    if (!synced) co_return synced.error();
  }
  ++p.files_done;
  co_return couring::result<void>{};
}

}  // namespace samples
