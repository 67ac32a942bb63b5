/* Reads whose bytes are in the page cache, which the library serves at submission on the caller's
 * thread (preadv2 with RWF_NOWAIT), and reads that are not, which the engine serves. A conforming
 * program must not be able to tell the two apart: every test here holds whichever path was taken,
 * and where the test can know which one it must be (the page cache answers the same NOWAIT read
 * the test makes itself, and COURING_AIO_INLINE is not 0) it checks that one was. */
#include "aio_test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

/* Whether the library should serve this read inline: what the page cache answers to the same
 * non-blocking read, unless the shortcut is switched off. */
static int expect_inline(int fd, void* buf, size_t n, off_t off) {
  const char* off_switch = getenv("COURING_AIO_INLINE");
  if (off_switch && strcmp(off_switch, "0") == 0) return 0;
  struct iovec iov = {buf, n};
  return preadv2(fd, &iov, 1, off, RWF_NOWAIT) == (ssize_t)n;
}

static int inline_switched_off(void) {
  const char* v = getenv("COURING_AIO_INLINE");
  return v && strcmp(v, "0") == 0;
}

/* A scratch file holding `size` bytes of a position-dependent pattern (cached: just written). */
static int patterned_file(size_t size) {
  int fd = scratch_file(0);
  char* data = malloc(size);
  if (!data) exit(1);
  for (size_t i = 0; i < size; ++i) data[i] = (char)(i * 7 + i / 4096);
  CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
  free(data);
  return fd;
}

static int holds_pattern(const char* buf, size_t n, off_t off) {
  for (size_t i = 0; i < n; ++i) {
    size_t at = (size_t)off + i;
    if (buf[i] != (char)(at * 7 + at / 4096)) return 0;
  }
  return 1;
}

static void a_page_cache_read_completes_with_its_bytes_and_is_counted_like_any_other(void) {
  int fd = patterned_file(64 * 1024);
  static char buf[8192];
  const int inline_expected = expect_inline(fd, buf, sizeof buf, 4096);
  memset(buf, 0, sizeof buf);
  struct couring_aio_counters before, after;
  couring_aio_counters(&before);
  const uint64_t inline_before = couring_aio_served_inline();
  struct aiocb r;
  fill_aiocb(&r, fd, buf, sizeof buf, 4096);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == (ssize_t)sizeof buf);
  CHECK(holds_pattern(buf, sizeof buf, 4096));
  couring_aio_counters(&after);
  /* The preload test's proof that the library served a program rests on these counters. */
  CHECK(after.submitted == before.submitted + 1);
  CHECK(after.completed == before.completed + 1);
  CHECK(couring_aio_served_inline() == inline_before + (inline_expected ? 1 : 0));
  close(fd);
}

static void a_cached_read_is_final_when_aio_read_returns_unless_switched_off(void) {
  int fd = patterned_file(16 * 1024);
  static char buf[4096];
  const int inline_expected = expect_inline(fd, buf, sizeof buf, 8192);
  if (!inline_switched_off() && !inline_expected)
    printf("   the page cache refused a NOWAIT read here: the engine serves it\n");
  memset(buf, 0, sizeof buf);
  const uint64_t inline_before = couring_aio_served_inline();
  struct aiocb r;
  fill_aiocb(&r, fd, buf, sizeof buf, 8192);
  CHECK(aio_read(&r) == 0);
  if (inline_expected) {
    CHECK(aio_error(&r) == 0); /* served during the call: no wait needed */
    CHECK(couring_aio_served_inline() == inline_before + 1);
  }
  if (inline_switched_off()) CHECK(couring_aio_served_inline() == 0);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == (ssize_t)sizeof buf);
  CHECK(holds_pattern(buf, sizeof buf, 8192));
  close(fd);
}

/* Dropped from the page cache (written back first, or DONTNEED keeps dirty pages), then read
 * whole, and again with only its first half cached: a NOWAIT read gets nothing or part of it,
 * and the engine must still deliver every byte. */
static void a_read_of_an_uncached_or_half_cached_range_returns_every_byte(void) {
  enum { size = 1 << 20 };
  int fd = patterned_file(size);
  char* buf = malloc(size);
  CHECK(buf != NULL);
  if (!buf) return;
  /* No readahead: reading the first half back must not bring in the second. */
  CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM) == 0);
  for (int half_cached = 0; half_cached < 2; ++half_cached) {
    CHECK(fdatasync(fd) == 0);
    CHECK(posix_fadvise(fd, 0, size, POSIX_FADV_DONTNEED) == 0);
    if (half_cached) CHECK(pread(fd, buf, size / 2, 0) == size / 2); /* brings the first half back */
    struct iovec probe = {buf, size};
    printf("   %s: a NOWAIT read gets %zd bytes of %d\n", half_cached ? "half cached" : "uncached",
           preadv2(fd, &probe, 1, 0, RWF_NOWAIT), size);
    memset(buf, 0, size);
    struct aiocb r;
    fill_aiocb(&r, fd, buf, size, 0);
    CHECK(aio_read(&r) == 0);
    CHECK(wait_one(&r) == 0);
    CHECK(aio_return(&r) == size);
    CHECK(holds_pattern(buf, size, 0));
  }
  free(buf);
  close(fd);
}

/* A NOWAIT read that stops at end of file is short, like a partly cached one: the engine reads
 * again and reports the short count as it is. A read that ends exactly at end of file is whole. */
static void reads_at_and_past_the_end_of_a_cached_file_report_their_counts(void) {
  int fd = patterned_file(3000);
  static char buf[4096];
  struct aiocb r;
  fill_aiocb(&r, fd, buf, sizeof buf, 0);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == 3000);
  CHECK(holds_pattern(buf, 3000, 0));
  fill_aiocb(&r, fd, buf, 1000, 2000);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == 1000);
  CHECK(holds_pattern(buf, 1000, 2000));
  fill_aiocb(&r, fd, buf, 16, 5000);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == 0);
  close(fd);
}

static void a_read_served_inline_sends_its_signal_with_si_asyncio_and_its_value(void) {
  sigset_t old, set = block_signal(SIGRTMIN, &old);
  int fd = patterned_file(8192);
  static char buf[4096];
  const int inline_expected = expect_inline(fd, buf, sizeof buf, 4096);
  memset(buf, 0, sizeof buf);
  int marker = 0;
  struct aiocb r;
  fill_aiocb(&r, fd, buf, sizeof buf, 4096);
  notify_by_signal(&r.aio_sigevent, SIGRTMIN, (union sigval){.sival_ptr = &marker});
  CHECK(aio_read(&r) == 0);
  if (inline_expected) CHECK(aio_error(&r) == 0);
  siginfo_t info;
  CHECK(take_signal(&set, &info) == SIGRTMIN);
  CHECK(info.si_code == SI_ASYNCIO);
  CHECK(info.si_value.sival_ptr == &marker);
  CHECK(aio_error(&r) == 0 && aio_return(&r) == (ssize_t)sizeof buf);
  CHECK(holds_pattern(buf, sizeof buf, 4096));
  struct timespec none = {0, 20000000};
  CHECK(sigtimedwait(&set, &info, &none) == -1 && errno == EAGAIN); /* one signal, not two */
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(fd);
}

static pthread_mutex_t calls_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t calls_cond = PTHREAD_COND_INITIALIZER;
static int calls;
static pid_t call_tid;
static int final_when_called = 1;
static struct aiocb* watched[4];
static int watched_count;

static void on_notification(union sigval v) {
  pthread_mutex_lock(&calls_mutex);
  for (int i = 0; i < watched_count; ++i)
    if (aio_error(watched[i]) == EINPROGRESS) final_when_called = 0;
  call_tid = (pid_t)syscall(SYS_gettid);
  calls += v.sival_int;
  pthread_cond_signal(&calls_cond);
  pthread_mutex_unlock(&calls_mutex);
}

static void reset_calls(int watching) {
  pthread_mutex_lock(&calls_mutex);
  calls = 0;
  call_tid = 0;
  final_when_called = 1;
  watched_count = watching;
  pthread_mutex_unlock(&calls_mutex);
}

static int wait_calls(int n) { return wait_for_count(&calls_mutex, &calls_cond, &calls, n); }

static void a_read_served_inline_runs_its_sigev_thread_function_on_the_notification_thread(void) {
  int fd = patterned_file(8192);
  static char buf[4096];
  struct aiocb r;
  fill_aiocb(&r, fd, buf, sizeof buf, 0);
  r.aio_sigevent.sigev_notify = SIGEV_THREAD;
  r.aio_sigevent.sigev_notify_function = on_notification;
  r.aio_sigevent.sigev_value.sival_int = 1;
  watched[0] = &r;
  reset_calls(1);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_calls(1) == 1);
  usleep(20000);
  CHECK(wait_calls(1) == 1); /* once */
  CHECK(final_when_called == 1);
  CHECK(call_tid != 0 && call_tid != (pid_t)syscall(SYS_gettid)); /* never the caller's thread */
  CHECK(wait_one(&r) == 0 && aio_return(&r) == (ssize_t)sizeof buf);
  CHECK(holds_pattern(buf, sizeof buf, 0));
  close(fd);
}

static void a_list_of_reads_all_served_inline_notifies_once_after_every_member(void) {
  int fd = patterned_file(4 * 4096);
  static char bufs[4][4096];
  struct aiocb members[4];
  struct aiocb* list[4];
  int all_inline = 1;
  for (int i = 0; i < 4; ++i) {
    all_inline = all_inline && expect_inline(fd, bufs[i], 4096, (off_t)i * 4096);
    memset(bufs[i], 0, 4096);
    fill_aiocb(&members[i], fd, bufs[i], 4096, (off_t)i * 4096);
    members[i].aio_lio_opcode = LIO_READ;
    list[i] = &members[i];
    watched[i] = &members[i];
  }
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = on_notification;
  ev.sigev_value.sival_int = 1;
  reset_calls(4);
  const uint64_t inline_before = couring_aio_served_inline();
  CHECK(lio_listio(LIO_NOWAIT, list, 4, &ev) == 0);
  if (all_inline) CHECK(couring_aio_served_inline() == inline_before + 4);
  CHECK(wait_calls(1) == 1);
  usleep(20000);
  CHECK(wait_calls(1) == 1); /* once per list, not per member */
  CHECK(final_when_called == 1);
  CHECK(call_tid != 0 && call_tid != (pid_t)syscall(SYS_gettid));
  for (int i = 0; i < 4; ++i) {
    CHECK(wait_one(&members[i]) == 0 && aio_return(&members[i]) == 4096);
    CHECK(holds_pattern(bufs[i], 4096, (off_t)i * 4096));
  }
  /* LIO_WAIT: returns with every member final. */
  for (int i = 0; i < 4; ++i) memset(bufs[i], 0, 4096);
  CHECK(lio_listio(LIO_WAIT, list, 4, NULL) == 0);
  for (int i = 0; i < 4; ++i) {
    CHECK(aio_error(&members[i]) == 0 && aio_return(&members[i]) == 4096);
    CHECK(holds_pattern(bufs[i], 4096, (off_t)i * 4096));
  }
  close(fd);
}

static void aio_cancel_of_a_read_served_inline_is_alldone(void) {
  int fd = patterned_file(8192);
  static char buf[4096];
  const int inline_expected = expect_inline(fd, buf, sizeof buf, 0);
  struct aiocb r;
  fill_aiocb(&r, fd, buf, sizeof buf, 0);
  CHECK(aio_read(&r) == 0);
  const int answer = aio_cancel(fd, &r); /* at once: no wait in between */
  if (inline_expected) CHECK(answer == AIO_ALLDONE);
  CHECK(answer == AIO_ALLDONE || answer == AIO_CANCELED || answer == AIO_NOTCANCELED);
  if (answer == AIO_CANCELED) {
    CHECK(aio_error(&r) == ECANCELED && aio_return(&r) == -1);
  } else {
    CHECK(wait_one(&r) == 0 && aio_return(&r) == (ssize_t)sizeof buf); /* its own result, intact */
    CHECK(holds_pattern(buf, sizeof buf, 0));
  }
  CHECK(aio_cancel(fd, NULL) == AIO_ALLDONE); /* nothing left on the descriptor */
  close(fd);
}

/* aio_fsync completes only after the reads and writes submitted before it on its descriptor,
 * the ones served at submission included. */
static void aio_fsync_after_a_write_and_a_cached_read_completes_after_both(void) {
  int fd = patterned_file(8192);
  static char in[4096];
  struct aiocb w, r, s;
  fill_aiocb(&w, fd, "fresh", 5, 8192);
  fill_aiocb(&r, fd, in, sizeof in, 0);
  fill_aiocb(&s, fd, NULL, 0, 0);
  CHECK(aio_write(&w) == 0);
  CHECK(aio_read(&r) == 0);
  CHECK(aio_fsync(O_DSYNC, &s) == 0);
  CHECK(wait_one(&s) == 0);
  CHECK(aio_error(&w) == 0 && aio_error(&r) == 0); /* its completion means theirs */
  CHECK(aio_return(&s) == 0);
  CHECK(aio_return(&w) == 5 && aio_return(&r) == (ssize_t)sizeof in);
  CHECK(holds_pattern(in, sizeof in, 0));
  char back[5];
  CHECK(pread(fd, back, 5, 8192) == 5 && memcmp(back, "fresh", 5) == 0);
  close(fd);
}

/* A NOWAIT read of an O_DIRECT descriptor would still wait for the device on the caller's
 * thread: such reads go to the engine, cached or not. */
static void an_o_direct_read_is_never_served_on_the_callers_thread(void) {
  int fd = patterned_file(8192);
  if (fcntl(fd, F_SETFL, O_DIRECT) != 0 || !(fcntl(fd, F_GETFL) & O_DIRECT)) {
    printf("   O_DIRECT unsupported here: nothing to check\n");
    close(fd);
    return;
  }
  void* buf = NULL;
  CHECK(posix_memalign(&buf, 4096, 4096) == 0);
  if (!buf) return;
  const uint64_t inline_before = couring_aio_served_inline();
  struct aiocb r;
  fill_aiocb(&r, fd, buf, 4096, 4096);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == 0 && aio_return(&r) == 4096);
  CHECK(holds_pattern(buf, 4096, 4096));
  CHECK(couring_aio_served_inline() == inline_before);
  free(buf);
  close(fd);
}

int main(void) {
  static const struct aio_test tests[] = {
      TEST(a_page_cache_read_completes_with_its_bytes_and_is_counted_like_any_other),
      TEST(a_cached_read_is_final_when_aio_read_returns_unless_switched_off),
      TEST(a_read_of_an_uncached_or_half_cached_range_returns_every_byte),
      TEST(reads_at_and_past_the_end_of_a_cached_file_report_their_counts),
      TEST(a_read_served_inline_sends_its_signal_with_si_asyncio_and_its_value),
      TEST(a_read_served_inline_runs_its_sigev_thread_function_on_the_notification_thread),
      TEST(a_list_of_reads_all_served_inline_notifies_once_after_every_member),
      TEST(aio_cancel_of_a_read_served_inline_is_alldone),
      TEST(aio_fsync_after_a_write_and_a_cached_read_completes_after_both),
      TEST(an_o_direct_read_is_never_served_on_the_callers_thread),
  };
  return run_aio_tests(tests, sizeof tests / sizeof tests[0]);
}
