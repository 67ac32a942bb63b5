/* aio_suspend and lio_listio, from the Open Group's pages. */
#include "aio_test.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>

static void aio_suspend_wakes_on_any_listed_completion_and_skips_null_entries(void) {
  int p1[2], p2[2];
  char a[1], b[1];
  struct aiocb ra, rb;
  pending_pipe_read(p1, &ra, a, 1);
  pending_pipe_read(p2, &rb, b, 1);
  CHECK(write(p2[1], "B", 1) == 1); /* only the second one can finish */
  const struct aiocb* list[3] = {NULL, &ra, &rb};
  CHECK(aio_suspend(list, 3, NULL) == 0);
  CHECK(wait_one(&rb) == 0 && aio_return(&rb) == 1 && b[0] == 'B');
  CHECK(aio_error(&ra) == EINPROGRESS);
  CHECK(write(p1[1], "A", 1) == 1);
  CHECK(wait_one(&ra) == 0 && aio_return(&ra) == 1 && a[0] == 'A');
  close_pipe(p1);
  close_pipe(p2);
}

static void aio_suspend_times_out_with_eagain(void) {
  int p[2];
  char c[1];
  struct aiocb r;
  pending_pipe_read(p, &r, c, 1);
  const struct aiocb* list[1] = {&r};
  struct timespec t = {0, 50 * 1000 * 1000}, before, after;
  clock_gettime(CLOCK_MONOTONIC, &before);
  errno = 0;
  CHECK(aio_suspend(list, 1, &t) == -1 && errno == EAGAIN);
  clock_gettime(CLOCK_MONOTONIC, &after);
  long ms = (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
  CHECK(ms >= 45);
  CHECK(write(p[1], "x", 1) == 1);
  CHECK(wait_one(&r) == 0 && aio_return(&r) == 1);
  close_pipe(p);
}

static void on_alarm(int sig) { (void)sig; }

static void aio_suspend_interrupted_by_a_signal_is_eintr(void) {
  int p[2];
  char c[1];
  struct aiocb r;
  pending_pipe_read(p, &r, c, 1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: the wait must end */
  CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
  ualarm(50000, 0);
  const struct aiocb* list[1] = {&r};
  errno = 0;
  CHECK(aio_suspend(list, 1, NULL) == -1 && errno == EINTR);
  CHECK(write(p[1], "x", 1) == 1);
  CHECK(wait_one(&r) == 0 && aio_return(&r) == 1);
  signal(SIGALRM, SIG_DFL);
  close_pipe(p);
}

static void aio_suspend_returns_at_once_when_one_is_already_done(void) {
  int fd = scratch_file(0);
  struct aiocb w;
  fill_aiocb(&w, fd, "q", 1, 0);
  CHECK(aio_write(&w) == 0);
  CHECK(wait_one(&w) == 0);
  const struct aiocb* list[1] = {&w};
  struct timespec zero = {0, 0};
  CHECK(aio_suspend(list, 1, &zero) == 0);
  CHECK(aio_return(&w) == 1);
  close(fd);
}

static void lio_wait_returns_after_every_member_with_each_status_in_its_aiocb(void) {
  int fd = scratch_file(0);
  char data[4][8], back[4][8];
  struct aiocb w[4], nop;
  struct aiocb* list[6];
  for (int i = 0; i < 4; ++i) {
    memset(data[i], '0' + i, 8);
    fill_aiocb(&w[i], fd, data[i], 8, i * 8);
    w[i].aio_lio_opcode = LIO_WRITE;
    list[i] = &w[i];
  }
  fill_aiocb(&nop, fd, NULL, 0, 0);
  nop.aio_lio_opcode = LIO_NOP;
  list[4] = &nop;
  list[5] = NULL;
  CHECK(lio_listio(LIO_WAIT, list, 6, NULL) == 0);
  for (int i = 0; i < 4; ++i) CHECK(aio_error(&w[i]) == 0 && aio_return(&w[i]) == 8);
  CHECK(pread(fd, back, 32, 0) == 32);
  CHECK(memcmp(back, data, 32) == 0);
  close(fd);
}

static void a_bad_member_makes_lio_listio_fail_with_eio_and_carries_its_own_error(void) {
  int fd = scratch_file(0);
  char buf[4];
  struct aiocb good, bad_op, bad_off;
  fill_aiocb(&good, fd, "good", 4, 0);
  good.aio_lio_opcode = LIO_WRITE;
  fill_aiocb(&bad_op, fd, buf, 4, 0);
  bad_op.aio_lio_opcode = 42;
  fill_aiocb(&bad_off, fd, buf, 4, -5);
  bad_off.aio_lio_opcode = LIO_READ;
  struct aiocb* list[3] = {&good, &bad_op, &bad_off};
  errno = 0;
  CHECK(lio_listio(LIO_WAIT, list, 3, NULL) == -1 && errno == EIO);
  CHECK(aio_error(&good) == 0 && aio_return(&good) == 4);
  CHECK(aio_error(&bad_op) == EINVAL);
  CHECK(aio_error(&bad_off) == EINVAL);
  close(fd);
}

static void lio_listio_rejects_a_bad_mode_and_too_long_a_list_with_einval(void) {
  struct aiocb* list[1] = {NULL};
  errno = 0;
  CHECK(lio_listio(7, list, 1, NULL) == -1 && errno == EINVAL);
  errno = 0;
  CHECK(lio_listio(LIO_WAIT, list, COURING_AIO_MAX + 1, NULL) == -1 && errno == EINVAL);
}

static void a_list_that_does_not_fit_is_eagain_and_none_of_it_is_submitted(void) {
  /* One request in flight, then a list of COURING_AIO_MAX: one more than fits. */
  int p[2];
  char c[1];
  struct aiocb blocked;
  pending_pipe_read(p, &blocked, c, 1);
  static struct aiocb members[COURING_AIO_MAX];
  static struct aiocb* list[COURING_AIO_MAX];
  static char byte[1];
  int fd = scratch_file(0);
  for (int i = 0; i < COURING_AIO_MAX; ++i) {
    fill_aiocb(&members[i], fd, byte, 1, i);
    members[i].aio_lio_opcode = LIO_WRITE;
    list[i] = &members[i];
  }
  struct couring_aio_counters before, after;
  couring_aio_counters(&before);
  errno = 0;
  CHECK(lio_listio(LIO_NOWAIT, list, COURING_AIO_MAX, NULL) == -1 && errno == EAGAIN);
  couring_aio_counters(&after);
  CHECK(after.submitted == before.submitted);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == 0); /* not one byte was written */
  CHECK(write(p[1], "x", 1) == 1);
  CHECK(wait_one(&blocked) == 0 && aio_return(&blocked) == 1);
  close(fd);
  close_pipe(p);
}

static volatile sig_atomic_t list_signal_value = 0;
static volatile sig_atomic_t list_signal_code = 0;
static void on_list_signal(int sig, siginfo_t* info, void* ctx) {
  (void)sig; (void)ctx;
  list_signal_code = info->si_code;
  list_signal_value = info->si_value.sival_int;
}

static void lio_nowait_notifies_once_every_member_completed(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_list_signal;
  sa.sa_flags = SA_SIGINFO;
  CHECK(sigaction(SIGRTMIN + 1, &sa, NULL) == 0);
  sigset_t old, block = block_signal(SIGRTMIN + 1, &old);

  int p[2];
  char a[1], b[1];
  struct aiocb r1, r2;
  two_readers_of_one_pipe(p, &r1, &r2, a, b);
  struct aiocb* list[2] = {&r1, &r2};
  struct sigevent ev;
  notify_by_signal(&ev, SIGRTMIN + 1, (union sigval){.sival_int = 4242});
  CHECK(lio_listio(LIO_NOWAIT, list, 2, &ev) == 0);
  CHECK(write(p[1], "1", 1) == 1);
  const struct aiocb* one[2] = {&r1, &r2};
  CHECK(aio_suspend(one, 2, NULL) == 0);
  usleep(20000);
  sigset_t pending;
  sigpending(&pending);
  CHECK(!sigismember(&pending, SIGRTMIN + 1)); /* one member still reads: no list signal yet */
  CHECK(write(p[1], "2", 1) == 1);
  CHECK(wait_one(&r1) == 0 && wait_one(&r2) == 0);
  siginfo_t info;
  CHECK(take_signal(&block, &info) == SIGRTMIN + 1);
  CHECK(info.si_code == SI_ASYNCIO && info.si_value.sival_int == 4242);
  CHECK(aio_return(&r1) == 1 && aio_return(&r2) == 1);
  CHECK((a[0] == '1' && b[0] == '2') || (a[0] == '2' && b[0] == '1'));
  sigprocmask(SIG_SETMASK, &old, NULL);
  close_pipe(p);
}

static void a_lio_nowait_list_whose_members_are_cancelled_still_sends_its_notification(void) {
  sigset_t old, block = block_signal(SIGRTMIN + 1, &old);
  int p[2];
  char a[1], b[1];
  struct aiocb r1, r2;
  two_readers_of_one_pipe(p, &r1, &r2, a, b);
  struct aiocb* list[2] = {&r1, &r2};
  struct sigevent ev;
  notify_by_signal(&ev, SIGRTMIN + 1, (union sigval){.sival_int = 5151});
  CHECK(lio_listio(LIO_NOWAIT, list, 2, &ev) == 0);
  usleep(20000);
  CHECK(aio_cancel(p[0], NULL) == AIO_CANCELED);
  siginfo_t info;
  CHECK(take_signal(&block, &info) == SIGRTMIN + 1);
  CHECK(info.si_code == SI_ASYNCIO && info.si_value.sival_int == 5151);
  CHECK(aio_error(&r1) == ECANCELED && aio_return(&r1) == -1);
  CHECK(aio_error(&r2) == ECANCELED && aio_return(&r2) == -1);
  sigprocmask(SIG_SETMASK, &old, NULL);
  close_pipe(p);
}

/* POSIX: lio_listio(LIO_WAIT) fails with EINTR when a signal arrives while it waits; the requests
 * are not cancelled (glibc answers -1/EINTR too, from its futex wait). */
static void lio_wait_interrupted_by_a_signal_is_eintr_and_its_members_still_complete(void) {
  int p[2];
  char a[1], b[1];
  struct aiocb r1, r2;
  two_readers_of_one_pipe(p, &r1, &r2, a, b);
  struct aiocb* list[2] = {&r1, &r2};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: the wait must end */
  CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
  ualarm(50000, 0);
  errno = 0;
  CHECK(lio_listio(LIO_WAIT, list, 2, NULL) == -1 && errno == EINTR);
  CHECK(aio_error(&r1) == EINPROGRESS && aio_error(&r2) == EINPROGRESS); /* nothing to read yet */
  CHECK(write(p[1], "12", 2) == 2);
  CHECK(wait_one(&r1) == 0 && aio_return(&r1) == 1);
  CHECK(wait_one(&r2) == 0 && aio_return(&r2) == 1);
  CHECK((a[0] == '1' && b[0] == '2') || (a[0] == '2' && b[0] == '1'));
  signal(SIGALRM, SIG_DFL);
  close_pipe(p);
}

static const struct aio_test tests[] = {
    TEST(aio_suspend_wakes_on_any_listed_completion_and_skips_null_entries),
    TEST(aio_suspend_times_out_with_eagain),
    TEST(aio_suspend_interrupted_by_a_signal_is_eintr),
    TEST(aio_suspend_returns_at_once_when_one_is_already_done),
    TEST(lio_wait_returns_after_every_member_with_each_status_in_its_aiocb),
    TEST(a_bad_member_makes_lio_listio_fail_with_eio_and_carries_its_own_error),
    TEST(lio_listio_rejects_a_bad_mode_and_too_long_a_list_with_einval),
    TEST(lio_nowait_notifies_once_every_member_completed),
    TEST(lio_wait_interrupted_by_a_signal_is_eintr_and_its_members_still_complete),
    TEST(a_list_that_does_not_fit_is_eagain_and_none_of_it_is_submitted),
    TEST(a_lio_nowait_list_whose_members_are_cancelled_still_sends_its_notification),
};

int main(void) { return run_aio_tests(tests, sizeof tests / sizeof tests[0]); }
