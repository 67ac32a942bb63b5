// engine: the couring runtime behind the C API. It runs on a thread of its own, started on the
// first request (never on a caller's thread), with every signal blocked so that the program's
// handlers only ever run on the program's threads. Any thread may submit. After fork() the child
// finds no engine and starts a fresh, empty one on its first request; at exit the engine thread is
// simply abandoned with the process (nothing joins it, nothing destroys a runtime under it).
#pragma once

#include <aio.h>

#include <atomic>
#include <cstdint>

namespace couring::aio {

enum class request_kind : std::uint8_t { read, write, fsync, fdatasync };

struct list_state;

// Hands a validated request (already marked in progress) to the engine, with the member of a
// lio_listio it belongs to (or nullptr). Returns 0, or an errno: EAGAIN when the engine could not
// start or max_in_flight requests are already in flight.
int submit(aiocb* cb, request_kind kind, list_state* list) noexcept;

// Serves a read on the caller's thread, now, when every byte of it is in the page cache (one
// preadv2 with RWF_NOWAIT): its status is made final, its completion queued, announced and
// notified, its list member counted, as the engine would. Returns false, having changed nothing
// the caller can observe, when the read must go to submit() instead: not all cached, an error,
// or COURING_AIO_INLINE=0. It never starts the engine. Not for O_DIRECT descriptors: there a
// NOWAIT read still waits for the device, on the caller's thread.
bool served_inline(aiocb* cb, list_state* list) noexcept;

inline constexpr std::size_t max_in_flight = 65536;  // COURING_AIO_MAX

// Whether `n` more requests fit now (lio_listio checks the whole list before submitting any).
bool room_for(std::size_t n) noexcept;

// aio_cancel once its arguments were checked: asks the engine to stop the requests on `fd` (only
// `cb`, unless it is nullptr) and waits, at most a grace period, for each to finish. Returns
// AIO_CANCELED (each ended with ECANCELED), AIO_NOTCANCELED (one ended otherwise or still runs)
// or AIO_ALLDONE (none was left to cancel).
int cancel_requests(int fd, const aiocb* cb) noexcept;

const char* backend_name_of_engine() noexcept;
// The same without starting the engine: "none" while it has not started (every request so far
// was served inline) or could not.
const char* backend_name_if_started() noexcept;

struct counter_values {
  std::uint64_t submitted;
  std::uint64_t completed;
  std::uint64_t served_inline;  // counted in both of the above too
};
counter_values counters() noexcept;

}  // namespace couring::aio
