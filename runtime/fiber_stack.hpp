// Fiber stacks: mmap'd, with a PROT_NONE guard area below the usable area so that an overflow
// faults instead of corrupting memory, pooled per thread so that spawning a fiber usually costs
// no syscall. A SIGSEGV in the guard area of the fiber running on this thread ends the process
// with a message that names the problem.
//
// The guard is 64 KiB, not one page: a frame larger than a page moves the stack pointer past a
// one-page guard in one step (compilers probe each page only with -fstack-clash-protection, off by
// default on Debian), and its first write would land in whatever is mapped below, typically the
// stack of the fiber spawned next. 64 KiB covers the common big frame, a 64 KiB buffer, on any
// stack; it costs address space only.
#pragma once

#include <cstddef>

namespace couring::detail {

struct fiber_stack {
  void* top = nullptr;       // highest address (stacks grow down)
  std::size_t size = 0;      // usable bytes
  void* guard = nullptr;     // the guard area's lowest address (the mapping's start)
};

// Bytes of PROT_NONE below every stack: 64 KiB, or a page where pages are larger.
std::size_t fiber_stack_guard_bytes() noexcept;

// Rounds `usable` up to whole pages. Throws std::bad_alloc when mmap fails. Call it on the thread
// that will run the fiber: it also sets up that thread's alternate signal stack on first use.
fiber_stack allocate_fiber_stack(std::size_t usable);
// The stack whose usable area ends at `top` and holds `usable` bytes (as allocated above).
fiber_stack fiber_stack_at(void* top, std::size_t usable) noexcept;
void release_fiber_stack(const fiber_stack& s) noexcept;

// Tells the overflow handler which guard area belongs to the fiber now running on this thread
// (nullptr: none).
void set_running_fiber_guard(const fiber_stack* s) noexcept;

// Bytes of stacks currently kept for reuse by this thread.
std::size_t pooled_fiber_stack_bytes() noexcept;

}  // namespace couring::detail
