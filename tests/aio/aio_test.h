/* The harness of the libcouring-aio C tests: each test is a function named as a sentence, each
 * check a CHECK() that reports the file, line and expression that failed. main() first applies the
 * suite's backend rules (tests/meson.build): exit 77 where a forced io_uring cannot run, and, in
 * the seccomp-denied runs, fail unless the library really fell back to the thread pool. It ends
 * with the line .ci/run sums: "couring-test-summary: N passed, M failed". */
#ifndef COURING_AIO_TEST_H
#define COURING_AIO_TEST_H

#define _GNU_SOURCE
#include <aio.h>
#include <couring/aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int aio_test_failures;

#define CHECK(expr)                                                                   \
  do {                                                                                \
    if (!(expr)) {                                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d: %s)\n", __FILE__, __LINE__, \
              #expr, errno, strerror(errno));                                         \
      ++aio_test_failures;                                                            \
    }                                                                                 \
  } while (0)

typedef void (*aio_test_fn)(void);
struct aio_test {
  const char* name;
  aio_test_fn fn;
};

/* A scratch file under $TMPDIR (or /tmp), unlinked at once: only the descriptor remains. */
static inline int scratch_file(int flags) {
  const char* dir = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/couring-aio-XXXXXX", dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("mkstemp");
    exit(1);
  }
  unlink(path);
  if (flags) fcntl(fd, F_SETFL, flags);
  return fd;
}

static inline void fill_aiocb(struct aiocb* cb, int fd, const void* buf, size_t n, off_t off) {
  memset(cb, 0, sizeof *cb);
  cb->aio_fildes = fd;
  cb->aio_buf = (void*)buf; /* writes only read it */
  cb->aio_nbytes = n;
  cb->aio_offset = off;
  cb->aio_sigevent.sigev_notify = SIGEV_NONE;
}

/* A read that cannot complete yet: a new pipe with nothing in it (p[0] the read end, p[1] the
 * write end) and cb set up to read n bytes of it into buf, its opcode LIO_READ for lio_listio. It
 * stays in progress until the test writes to p[1]: the tests' way to hold a request pending. */
static inline void empty_pipe_read(int p[2], struct aiocb* cb, void* buf, size_t n) {
  if (pipe(p) != 0) {
    perror("pipe");
    exit(1);
  }
  fill_aiocb(cb, p[0], buf, n, 0);
  cb->aio_lio_opcode = LIO_READ;
}

/* The same, submitted with aio_read. */
static inline void pending_pipe_read(int p[2], struct aiocb* cb, void* buf, size_t n) {
  empty_pipe_read(p, cb, buf, n);
  if (aio_read(cb) != 0) {
    fprintf(stderr, "aio_read on an empty pipe: %s\n", strerror(errno));
    ++aio_test_failures;
  }
}

static inline void close_pipe(int p[2]) {
  close(p[0]);
  close(p[1]);
}

/* Two requests, each reading one byte (into a, into b) of the same new, empty pipe: the lists
 * whose members complete one at a time as the test writes a byte at a time. */
static inline void two_readers_of_one_pipe(int p[2], struct aiocb* r1, struct aiocb* r2, char* a, char* b) {
  empty_pipe_read(p, r1, a, 1);
  *r2 = *r1;
  r2->aio_buf = b;
}

/* Notification by signal `signo` carrying `value`, as a program asks for it. */
static inline void notify_by_signal(struct sigevent* ev, int signo, union sigval value) {
  memset(ev, 0, sizeof *ev);
  ev->sigev_notify = SIGEV_SIGNAL;
  ev->sigev_signo = signo;
  ev->sigev_value = value;
}

/* Blocks `signo` for the test, so that its notifications wait to be taken with take_signal();
 * *old is the mask to restore. Returns the set holding just `signo`. */
static inline sigset_t block_signal(int signo, sigset_t* old) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  sigprocmask(SIG_BLOCK, &set, old);
  return set;
}

/* Takes a blocked signal of `set`, waiting up to 5 s: its number (info filled), or -1. */
static inline int take_signal(const sigset_t* set, siginfo_t* info) {
  struct timespec t = {5, 0};
  return sigtimedwait(set, info, &t);
}

/* Waits, up to 5 s, until *count (guarded by mutex, signalled on cond) reaches n: the count then
 * seen, which is less than n if it never got there. */
static inline int wait_for_count(pthread_mutex_t* mutex, pthread_cond_t* cond, const int* count, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 5;
  pthread_mutex_lock(mutex);
  while (*count < n && pthread_cond_timedwait(cond, mutex, &until) == 0) {
  }
  int got = *count;
  pthread_mutex_unlock(mutex);
  return got;
}

/* Waits for one request with aio_suspend, the way a portable program does. */
static inline int wait_one(const struct aiocb* cb) {
  const struct aiocb* list[1] = {cb};
  while (aio_error(cb) == EINPROGRESS)
    if (aio_suspend(list, 1, NULL) != 0 && errno != EINTR) return -1;
  return aio_error(cb);
}

static inline int run_aio_tests(const struct aio_test* tests, size_t count) {
  const char* forced = getenv("COURING_BACKEND");
  const char* backend = couring_aio_backend();
  printf("backend: %s\n", backend);
  fflush(stdout); /* a forked child must not print it again */
  if (strcmp(backend, "none") == 0) {
    if (forced && strcmp(forced, "io_uring") == 0) {
      printf("SKIP: io_uring unavailable here\n");
      return 77;
    }
    printf("FAIL: the engine did not start\n");
    return 1;
  }
  if (getenv("COURING_EXPECT_FALLBACK") && strcmp(backend, "thread_pool") != 0) {
    printf("FAIL: io_uring is denied, yet the library runs on %s\n", backend);
    return 1;
  }
  size_t passed = 0, failed = 0;
  for (size_t i = 0; i < count; ++i) {
    int before = aio_test_failures;
    printf("-- %s\n", tests[i].name);
    fflush(stdout); /* a test that hangs is then named by the log */
    tests[i].fn();
    if (aio_test_failures == before) {
      ++passed;
    } else {
      ++failed;
      printf("FAILED: %s\n", tests[i].name);
    }
  }
  printf("couring-test-summary: %zu passed, %zu failed\n", passed, failed);
  return failed ? 1 : 0;
}

#define TEST(fn) {#fn, fn}

#endif
