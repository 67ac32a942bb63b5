// Coroutine frames are recycled per thread: a steady state of spawning and finishing tasks reuses
// the same blocks instead of calling malloc for every task.
#pragma once

#include <cstddef>

namespace couring::detail {

void* allocate_frame(std::size_t size);
void deallocate_frame(void* frame, std::size_t size) noexcept;

struct frame_allocator_stats {
  std::size_t fresh_allocations;  // blocks obtained from the global heap on this thread
  std::size_t reused;             // blocks served from this thread's free lists
};
frame_allocator_stats frame_stats() noexcept;

}  // namespace couring::detail
