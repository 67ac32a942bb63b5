/* <couring/aio.h>: what libcouring-aio offers beyond POSIX AIO (C and C++).
 *
 * POSIX gives a program no way to learn which request finished without scanning its own list
 * (aio_suspend, then aio_error on each), and no way to wait for AIO together with sockets.
 * These calls fill both gaps. The aio_* functions themselves are declared by the system's <aio.h>.
 */
#ifndef COURING_AIO_H
#define COURING_AIO_H

#include <aio.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* glibc's <aio.h> names no AIO_LISTIO_MAX: the longest list lio_listio takes (longer: EINVAL), which
 * is also the most requests in flight at once (a lio_listio that does not fit: EAGAIN). */
#define COURING_AIO_MAX 65536

/* Starts queueing completed requests for couring_aio_waitcomplete() and couring_aio_fd(). Only
 * requests completed after this call are queued: a program that never calls it pays nothing and
 * never accumulates a queue. Returns 0, or -1 with errno set (ENOMEM, EMFILE...). */
int couring_aio_queue_completions(void);

/* Waits for the next queued completion and hands it over: stores its aiocb in *done and returns
 * what aio_return() would have (the result is consumed: aio_return() on it then fails with
 * EINVAL). `timeout` is relative; NULL waits forever, {0, 0} polls. Fails with EAGAIN on
 * timeout, EINTR when a signal interrupted the wait, EINVAL when queueing is off or done is NULL. */
ssize_t couring_aio_waitcomplete(struct aiocb** done, const struct timespec* timeout);

/* A descriptor that is readable while completions are queued (an eventfd), for poll/epoll.
 * Reading it is not needed: couring_aio_waitcomplete() keeps it in step. The library owns it:
 * do not close it. Returns -1 with errno EINVAL when queueing is off. */
int couring_aio_fd(void);

/* What the library did, for tests and for proving a preloaded program was served by it. */
struct couring_aio_counters {
  uint64_t submitted; /* requests accepted (reads, writes, fsyncs) */
  uint64_t completed; /* requests whose status became final */
};
void couring_aio_counters(struct couring_aio_counters* out);

/* Of the submitted reads, how many were page-cache hits served at submission, on the caller's
 * thread (counted in `submitted` and `completed` too); 0 with COURING_AIO_INLINE=0. A function
 * of its own, not a field: programs built against the two-field struct above keep working. */
uint64_t couring_aio_served_inline(void);

/* The backend serving the requests ("io_uring" or "thread_pool"); starts the engine if needed. */
const char* couring_aio_backend(void);

#ifdef __cplusplus
}
#endif

#endif
