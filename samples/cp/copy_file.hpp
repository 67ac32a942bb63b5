// Copying one file's bytes with many reads and writes in flight.
//
// Only the ranges that hold data are copied (SEEK_DATA/SEEK_HOLE): the holes of a sparse file
// stay holes in the copy. The data is cut into chunks; `in_flight` workers each take the next chunk, read it at its
// offset and write it at the same offset in the destination. So at any moment up to `in_flight`
// reads and writes are queued in the backend: on io_uring they go to the kernel in batches, on
// the thread pool they keep that many workers busy, and either way the disk sees a deep queue
// instead of one request at a time.
#pragma once

#include <couring/file.hpp>
#include <couring/result.hpp>
#include <couring/task.hpp>

#include <cstddef>
#include <cstdint>

namespace samples {

struct copy_settings {
  std::size_t chunk = 1 << 20;  // 1 MiB: large enough that per-op cost disappears
  unsigned in_flight = 8;       // chunks being read or written at once, per file
  bool fsync = false;           // fsync the destination before closing it
};

// Shared by every file of one run, for the progress bar and the final line.
struct copy_progress {
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_done = 0;
  std::uint64_t files_done = 0;
};

// Copies the data of the `size` bytes of `in` to `out` (both open; `out` already truncated to
// `size`, so its holes are there), then fsyncs `out` if asked. A source that shrinks meanwhile
// is an error (end_of_file).
couring::task<couring::result<void>> copy_contents(const couring::file& in, const couring::file& out,
                                                   std::uint64_t size, const copy_settings& s, copy_progress& p);

}  // namespace samples
