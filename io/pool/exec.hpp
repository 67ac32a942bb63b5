// How the POSIX-AIO emulation performs a request. Shared by the thread-pool backend and by the
// io_uring backend for opcodes the running kernel lacks, so both give identical results.
//
// Every request takes one of four routes:
//   immediate  - it never blocks (nop, socket, shutdown) or it already finished on a first
//                non-blocking attempt: the result is known at submission;
//   readiness  - pollable fds (sockets, pipes, eventfds, ttys): wait for readiness (epoll, or
//                POLL_ADD on a ring), then retry the non-blocking attempt; no thread is pinned;
//   worker     - files and everything else that may block: one blocking syscall on a worker,
//                reported as aio_return would report it;
//   timer      - timeouts, kept by the loop's own timer structure.
#pragma once

#include <couring/request.hpp>

#include <atomic>
#include <cstdint>

namespace couring {
struct op_base;
}

namespace couring::pool {

enum class route : std::uint8_t { immediate, readiness, worker, timer };

struct plan {
  route how;
  int res = 0;               // route::immediate: the result
  int fd = -1;               // route::readiness: what to watch
  std::uint32_t events = 0;  // route::readiness: POLLIN/POLLOUT/... (same bits as EPOLL*)
};

// An op naming a slot of a registered-file table gets the slot's real descriptor instead (for
// every path but a native io_uring op on a table the ring has registered). -EBADF for a slot
// without one.
int use_real_descriptor(op_base& op) noexcept;

// Decides the route, performing the first non-blocking attempt where one is possible (so a recv
// with data already queued completes without ever touching epoll). May issue syscalls.
plan plan_for(const request& r) noexcept;

// After readiness: the non-blocking attempt again. -EAGAIN means "not yet, keep waiting";
// `revents` are the events that were reported.
int retry_when_ready(const request& r, std::uint32_t revents) noexcept;

// Tells a worker's blocking call that its op was cancelled: EINTR is then returned instead of
// retried. (The worker is signalled so that the call returns EINTR in the first place.)
struct interrupt_check {
  const std::atomic<std::uint8_t>* state = nullptr;
  std::uint8_t bit = 0;
  bool requested() const noexcept { return state && (state->load(std::memory_order_acquire) & bit); }
};

// The blocking syscall a worker performs: >= 0 or -errno, retried on EINTR where POSIX allows
// and `check` does not say the op was cancelled.
int exec_blocking(const request& r, interrupt_check check = {}) noexcept;

// Whether cancelling the request while a worker runs it interrupts the syscall. True for every
// call that may wait on something outside the process for ever (a lock, a pipe, a socket, a
// FIFO's open): it returns what it transferred so far, or is cancelled. False for user code run
// by offload() and for close(), which run to the end (POSIX AIO's AIO_NOTCANCELED).
bool interruptible(const request& r) noexcept;

}  // namespace couring::pool
