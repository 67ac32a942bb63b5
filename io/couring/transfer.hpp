// Helpers that loop over short transfers, for callers who want "all of it or an error".
// Reads and writes may transfer fewer bytes than asked (that is what both backends report, as
// aio_return and io_uring do); these keep going until done, EOF, or an error.
#pragma once

#include <couring/buffer.hpp>
#include <couring/request.hpp>
#include <couring/result.hpp>
#include <couring/task.hpp>

#include <cstdint>
#include <string>

namespace couring {

// Fills the whole buffer; couring::error::end_of_file if the data ends first. With an offset
// the reads are positional and the file position is untouched.
task<result<void>> read_exactly(int fd, mutable_buffer buf, std::int64_t offset = current_position);
// Writes the whole buffer.
task<result<void>> write_all(int fd, const_buffer buf, std::int64_t offset = current_position);
// Sends the whole buffer on a socket.
task<result<void>> send_all(int fd, const_buffer buf, int flags = 0);
// Receives exactly buf.size() bytes; couring::error::end_of_file if the peer closes first.
task<result<void>> recv_exactly(int fd, mutable_buffer buf);
// Appends everything up to EOF to `out` (reading at the current position) and returns the count.
task<result<std::size_t>> read_to_end(int fd, std::string& out);

}  // namespace couring
