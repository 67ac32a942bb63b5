// request -> SQE. The only place that knows how each request is spelled for io_uring.
#pragma once

#include <couring/request.hpp>

#include <liburing.h>

namespace couring::uring {

// The opcode a request uses, so the backend can ask the kernel's probe before preparing it;
// no_opcode for requests io_uring cannot express (they always take the emulation's route).
inline constexpr int no_opcode = -1;
int opcode_of(const request& r) noexcept;

// Fills `sqe` (already zeroed by io_uring_get_sqe's caller contract) for `r`; user_data is the
// caller's. `ioprio` applies to reads and writes (other opcodes use that field for flags).
void prep(io_uring_sqe* sqe, const request& r, unsigned short ioprio) noexcept;

}  // namespace couring::uring
