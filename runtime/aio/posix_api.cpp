// The POSIX AIO functions with glibc's names and ABI, including the *64 names that programs
// built with _FILE_OFFSET_BITS=64 import (on LP64, struct aiocb64 is struct aiocb byte for byte).
#include "runtime/aio/control_block.hpp"
#include "runtime/aio/engine.hpp"
#include "runtime/aio/list_state.hpp"
#include "runtime/aio/notify.hpp"
#include "runtime/aio/wakeup.hpp"

#include <couring/aio.h>

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

static_assert(sizeof(aiocb) == sizeof(aiocb64), "aiocb64 must be aiocb on this ABI");
static_assert(sizeof(off_t) == 8, "libcouring-aio supports LP64 targets only");
static_assert(COURING_AIO_MAX == couring::aio::max_in_flight);

namespace couring::aio {

void list_member_done(list_state* l) noexcept {
  // Read before counting down: once the count reaches the caller's own 1, a LIO_WAIT caller may
  // free the state at any moment.
  const bool caller_waits = l->caller_waits.load(std::memory_order_acquire);
  const int left = l->remaining.fetch_sub(1, std::memory_order_acq_rel) - 1;
  if (left == 0) {
    deliver(l->notify);
    delete l;
  } else if (left == 1 && caller_waits) {
    announce_completion();  // the LIO_WAIT caller sleeps on the epoch
  }
}

namespace {

bool valid_fd(int fd) noexcept { return fd >= 0 && fcntl(fd, F_GETFD) != -1; }

bool valid_sigevent(const sigevent& ev) noexcept {
  switch (ev.sigev_notify) {
    case SIGEV_NONE:
      return true;
    case SIGEV_SIGNAL:
    case SIGEV_THREAD_ID:
      // Signal 0 is accepted and sends nothing: SIGEV_SIGNAL is 0, so every program that zeroes its
      // aiocb and never touches aio_sigevent (fio does) asks for "signal 0", and glibc takes it.
      return ev.sigev_signo >= 0 && ev.sigev_signo < NSIG;
    case SIGEV_THREAD:
      return ev.sigev_notify_function != nullptr;
    default:
      return false;
  }
}

// The checks POSIX names for a read or write: the error, or 0. Checked before the request is
// queued, so a bad request never reaches the kernel with a meaning POSIX does not give it (a
// negative offset would mean "the current position" to io_uring).
// `status` receives the descriptor's status flags (F_GETFL), which hand_over() needs too.
int check_transfer(const aiocb* cb, bool reading, int& status) noexcept {
  // One fcntl both validates the descriptor (EBADF) and gives its flags: a syscall is a third of
  // the cost of a page-cache read served at submission.
  status = cb->aio_fildes >= 0 ? fcntl(cb->aio_fildes, F_GETFL) : -1;
  if (status == -1) return EBADF;
  const int mode = status & O_ACCMODE;
  if (reading ? mode == O_WRONLY : mode == O_RDONLY) return EBADF;
  if (cb->aio_offset < 0) return EINVAL;
  if (cb->aio_reqprio < 0 || cb->aio_reqprio > AIO_PRIO_DELTA_MAX) return EINVAL;
  if (cb->aio_nbytes > static_cast<size_t>(SSIZE_MAX)) return EINVAL;
  if (!valid_sigevent(cb->aio_sigevent)) return EINVAL;
  return 0;
}

int fail(int error) noexcept {
  errno = error;
  return -1;
}

// A checked request, marked in progress, leaves the call: a read whose bytes are all in the page
// cache is served here and now (no thread handoff for a read that takes a microsecond or two);
// everything else goes to the engine. Not O_DIRECT reads: a NOWAIT direct read would still wait
// for the device, here, on the caller's thread. Returns 0 or submit()'s errno.
int hand_over(aiocb* cb, request_kind kind, list_state* list, int status) noexcept {
  if (kind == request_kind::read && !(status & O_DIRECT) && served_inline(cb, list)) return 0;
  return submit(cb, kind, list);
}

// aio_read / aio_write / aio_fsync: errors found at submission are reported by the call (POSIX
// allows either; glibc does the same for these).
int start(aiocb* cb, request_kind kind, list_state* list, int status) noexcept {
  mark_in_progress(cb);
  const int error = hand_over(cb, kind, list, status);
  if (error) mark_done(cb, -1, error);
  return error;
}

int submit_transfer(aiocb* cb, bool reading) noexcept {
  if (!cb) return fail(EINVAL);
  int status = 0;
  if (const int error = check_transfer(cb, reading, status)) return fail(error);
  if (const int error = start(cb, reading ? request_kind::read : request_kind::write, nullptr, status))
    return fail(error);
  return 0;
}

int submit_sync(int op, aiocb* cb) noexcept {
  if (!cb) return fail(EINVAL);
  if (op != O_SYNC && op != O_DSYNC) return fail(EINVAL);
  if (!valid_fd(cb->aio_fildes)) return fail(EBADF);
  if (!valid_sigevent(cb->aio_sigevent)) return fail(EINVAL);
  if (const int error = start(cb, op == O_SYNC ? request_kind::fsync : request_kind::fdatasync, nullptr, 0))
    return fail(error);
  return 0;
}

int error_of_request(const aiocb* cb) noexcept {
  if (!cb) return fail(EINVAL);
  return error_of(cb);
}

ssize_t return_of(aiocb* cb) noexcept {
  if (!cb || !take_result(cb)) {
    errno = EINVAL;
    return -1;
  }
  return cb->__return_value;
}

int suspend(const aiocb* const list[], int nent, const timespec* timeout) noexcept {
  if (nent < 0 || (nent > 0 && !list) ||
      (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L)))
    return fail(EINVAL);
  timespec deadline{};
  if (timeout) deadline = deadline_after(*timeout);
  for (;;) {
    const std::uint32_t seen = completion_epoch();
    for (int i = 0; i < nent; ++i)
      if (list[i] && error_of(list[i]) != EINPROGRESS) return 0;
    const int why = wait_for_completion(seen, timeout ? &deadline : nullptr);
    if (why == ETIMEDOUT) return fail(EAGAIN);
    if (why == EINTR) return fail(EINTR);
  }
}

int cancel(int fd, aiocb* cb) noexcept {
  if (!valid_fd(fd)) return fail(EBADF);
  if (cb) {
    if (cb->aio_fildes != fd) return fail(EINVAL);
    if (error_of(cb) != EINPROGRESS) return AIO_ALLDONE;  // final already: nothing to ask anyone
  }
  return cancel_requests(fd, cb);
}

int listio(int mode, aiocb* const list[], int nent, sigevent* sig) noexcept {
  if (mode != LIO_WAIT && mode != LIO_NOWAIT) return fail(EINVAL);
  if (nent < 0 || nent > COURING_AIO_MAX || (nent > 0 && !list)) return fail(EINVAL);
  if (mode == LIO_NOWAIT && sig && !valid_sigevent(*sig)) return fail(EINVAL);
  std::size_t members = 0;
  for (int i = 0; i < nent; ++i)
    if (list[i] && list[i]->aio_lio_opcode != LIO_NOP) ++members;
  if (!room_for(members)) return fail(EAGAIN);  // the list does not fit: none of it is submitted

  auto* l = new (std::nothrow) list_state;
  if (!l) return fail(EAGAIN);
  l->caller_waits.store(mode == LIO_WAIT, std::memory_order_relaxed);
  if (mode == LIO_NOWAIT && sig) l->notify = *sig;
  else l->notify.sigev_notify = SIGEV_NONE;  // LIO_WAIT ignores sig, as POSIX says

  // One extra count held by this call, so the list cannot finish while it is still being submitted.
  l->remaining.store(1, std::memory_order_relaxed);
  bool any_failed = false;
  bool any_eagain = false;
  for (int i = 0; i < nent; ++i) {
    aiocb* cb = list[i];
    if (!cb || cb->aio_lio_opcode == LIO_NOP) continue;  // POSIX: NULL entries are ignored
    int error = 0;
    int status = 0;
    request_kind kind = request_kind::read;
    if (cb->aio_lio_opcode == LIO_READ) {
      error = check_transfer(cb, true, status);
    } else if (cb->aio_lio_opcode == LIO_WRITE) {
      error = check_transfer(cb, false, status);
      kind = request_kind::write;
    } else {
      error = EINVAL;
    }
    mark_in_progress(cb);
    if (!error) {
      l->remaining.fetch_add(1, std::memory_order_relaxed);
      error = hand_over(cb, kind, l, status);
      if (error) l->remaining.fetch_sub(1, std::memory_order_relaxed);
    }
    if (error) {
      mark_done(cb, -1, error);  // each member's own status stays in its aiocb
      any_failed = true;
      any_eagain = any_eagain || error == EAGAIN;
    }
  }

  if (mode == LIO_NOWAIT) {
    list_member_done(l);  // drops this call's count; may notify (and free) at once
    if (any_eagain) return fail(EAGAIN);
    return any_failed ? fail(EIO) : 0;
  }
  // LIO_WAIT: wait for every member, then report EIO if any failed.
  for (;;) {
    const std::uint32_t seen = completion_epoch();
    if (l->remaining.load(std::memory_order_acquire) == 1) break;
    const int why = wait_for_completion(seen, nullptr);
    if (why == EINTR) {
      // The members go on; the list state must outlive them, so it is left to the last one.
      l->caller_waits.store(false, std::memory_order_release);
      list_member_done(l);
      return fail(EINTR);
    }
  }
  delete l;
  for (int i = 0; i < nent; ++i) {
    aiocb* cb = list[i];
    if (cb && cb->aio_lio_opcode != LIO_NOP && error_of(cb) != 0) any_failed = true;
  }
  if (any_eagain) return fail(EAGAIN);
  return any_failed ? fail(EIO) : 0;
}

}  // namespace
}  // namespace couring::aio

using namespace couring::aio;

extern "C" {

int aio_read(aiocb* cb) { return submit_transfer(cb, true); }
int aio_write(aiocb* cb) { return submit_transfer(cb, false); }
int aio_fsync(int op, aiocb* cb) { return submit_sync(op, cb); }
int aio_error(const aiocb* cb) { return error_of_request(cb); }
ssize_t aio_return(aiocb* cb) { return return_of(cb); }
int aio_suspend(const aiocb* const list[], int nent, const timespec* timeout) { return suspend(list, nent, timeout); }
int aio_cancel(int fd, aiocb* cb) { return cancel(fd, cb); }
int lio_listio(int mode, aiocb* const list[], int nent, sigevent* sig) { return listio(mode, list, nent, sig); }

int aio_read64(aiocb64* cb) { return submit_transfer(reinterpret_cast<aiocb*>(cb), true); }
int aio_write64(aiocb64* cb) { return submit_transfer(reinterpret_cast<aiocb*>(cb), false); }
int aio_fsync64(int op, aiocb64* cb) { return submit_sync(op, reinterpret_cast<aiocb*>(cb)); }
int aio_error64(const aiocb64* cb) { return error_of_request(reinterpret_cast<const aiocb*>(cb)); }
ssize_t aio_return64(aiocb64* cb) { return return_of(reinterpret_cast<aiocb*>(cb)); }
int aio_suspend64(const aiocb64* const list[], int nent, const timespec* timeout) {
  return suspend(reinterpret_cast<const aiocb* const*>(list), nent, timeout);
}
int aio_cancel64(int fd, aiocb64* cb) { return cancel(fd, reinterpret_cast<aiocb*>(cb)); }
int lio_listio64(int mode, aiocb64* const list[], int nent, sigevent* sig) {
  return listio(mode, reinterpret_cast<aiocb* const*>(list), nent, sig);
}

void couring_aio_counters(struct couring_aio_counters* out) {
  if (!out) return;
  const counter_values v = counters();
  out->submitted = v.submitted;
  out->completed = v.completed;
}

const char* couring_aio_backend(void) { return backend_name_of_engine(); }

uint64_t couring_aio_served_inline(void) { return counters().served_inline; }

}  // extern "C"
