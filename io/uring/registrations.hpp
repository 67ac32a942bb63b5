// What a ring registers for the long term: descriptor tables (IORING_REGISTER_FILES) and
// buffers (IORING_REGISTER_BUFFERS), as the backend interface's handles. Private.
#pragma once

#include "io/backend/backend.hpp"

#include <liburing.h>

#include <sys/uio.h>

#include <memory>

namespace couring::uring {

result<std::unique_ptr<registered_files>> register_files(io_uring* ring, unsigned slots);
result<std::unique_ptr<registered_buffers>> register_buffers(io_uring* ring, const iovec* buffers, unsigned count);

}  // namespace couring::uring
