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

#include <cstdint>

namespace couring::pool {

enum class route : std::uint8_t { immediate, readiness, worker, timer };

struct plan {
  route how;
  int res = 0;               // route::immediate: the result
  int fd = -1;               // route::readiness: what to watch
  std::uint32_t events = 0;  // route::readiness: POLLIN/POLLOUT/... (same bits as EPOLL*)
};

// Decides the route, performing the first non-blocking attempt where one is possible (so a recv
// with data already queued completes without ever touching epoll). May issue syscalls.
plan plan_for(const request& r) noexcept;

// After readiness: the non-blocking attempt again. -EAGAIN means "not yet, keep waiting";
// `revents` are the events that were reported.
int retry_when_ready(const request& r, std::uint32_t revents) noexcept;

// The blocking syscall a worker performs: >= 0 or -errno, retried on EINTR where POSIX allows.
int exec_blocking(const request& r) noexcept;

// Whether cancelling the request while a worker runs it interrupts the syscall (a waiting lock, a
// recv with MSG_WAITALL) instead of letting it finish (POSIX AIO's AIO_NOTCANCELED, the rule for
// everything else).
bool interruptible(const request& r) noexcept;

}  // namespace couring::pool
