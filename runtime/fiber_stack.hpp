// Fiber stacks: mmap'd, with a PROT_NONE guard page below the usable area so that an overflow
// faults instead of corrupting memory, pooled per thread so that spawning a fiber usually costs
// no syscall. A SIGSEGV in the guard page of the fiber running on this thread ends the process
// with a message that names the problem.
#pragma once

#include <cstddef>

namespace couring::detail {

struct fiber_stack {
  void* top = nullptr;       // highest address (stacks grow down)
  std::size_t size = 0;      // usable bytes
  void* guard = nullptr;     // the guard page's address
};

// Rounds `usable` up to whole pages. Throws std::bad_alloc when mmap fails.
fiber_stack allocate_fiber_stack(std::size_t usable);
void release_fiber_stack(const fiber_stack& s) noexcept;

// Tells the overflow handler which guard page belongs to the fiber now running on this thread
// (nullptr: none). Also sets up this thread's alternate signal stack on first use.
void set_running_fiber_guard(const fiber_stack* s) noexcept;

// Bytes of stacks currently kept for reuse by this thread.
std::size_t pooled_fiber_stack_bytes() noexcept;

}  // namespace couring::detail
