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
    auto r = co_await couring::read_exactly(in.fd(), couring::mutable_buffer(buf.get(), len), off);
    if (!r) {
      q.failure = r.error();
      co_return;
    }
    auto w = co_await couring::write_all(out.fd(), couring::const_buffer(buf.get(), len), off);
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
