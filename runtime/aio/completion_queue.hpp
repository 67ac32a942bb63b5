// completion_queue: what <couring/aio.h>'s couring_aio_waitcomplete() and couring_aio_fd() read.
// Off until the program asks for it, so that programs using only POSIX calls never accumulate it.
#pragma once

#include <aio.h>

namespace couring::aio {

// Called by the engine for every completion.
void queue_completion(aiocb* cb) noexcept;

// fork(): held across it (atfork prepare/parent), so the child inherits a consistent queue.
void hold_completion_queue_for_fork() noexcept;
void release_completion_queue_after_fork() noexcept;
void reset_completion_queue_after_fork() noexcept;

}  // namespace couring::aio
