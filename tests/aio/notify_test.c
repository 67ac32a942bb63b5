/* Per-request notification: SIGEV_SIGNAL, SIGEV_THREAD_ID and SIGEV_THREAD. */
#include "aio_test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

static void sigev_signal_carries_si_asyncio_and_the_callers_value(void) {
  sigset_t old, set = block_signal(SIGRTMIN, &old);
  int fd = scratch_file(0);
  int marker = 0;
  struct aiocb w;
  fill_aiocb(&w, fd, "sig", 3, 0);
  notify_by_signal(&w.aio_sigevent, SIGRTMIN, (union sigval){.sival_ptr = &marker});
  CHECK(aio_write(&w) == 0);
  siginfo_t info;
  CHECK(take_signal(&set, &info) == SIGRTMIN);
  CHECK(info.si_code == SI_ASYNCIO);
  CHECK(info.si_value.sival_ptr == &marker);
  CHECK(info.si_pid == getpid());
  /* The status is final before the signal is sent. */
  CHECK(aio_error(&w) == 0 && aio_return(&w) == 3);
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(fd);
}

static void a_cancelled_request_still_sends_its_signal_with_its_value(void) {
  sigset_t old, set = block_signal(SIGRTMIN, &old);
  int p[2];
  char c[1];
  struct aiocb r;
  empty_pipe_read(p, &r, c, 1);
  notify_by_signal(&r.aio_sigevent, SIGRTMIN, (union sigval){.sival_int = 7107});
  CHECK(aio_read(&r) == 0);
  usleep(20000);
  CHECK(aio_cancel(p[0], &r) == AIO_CANCELED);
  siginfo_t info;
  CHECK(take_signal(&set, &info) == SIGRTMIN);
  CHECK(info.si_code == SI_ASYNCIO);
  CHECK(info.si_value.sival_int == 7107);
  CHECK(aio_error(&r) == ECANCELED && aio_return(&r) == -1);
  sigprocmask(SIG_SETMASK, &old, NULL);
  close_pipe(p);
}

static volatile sig_atomic_t handled_on_tid = 0;
static void on_thread_signal(int sig, siginfo_t* info, void* ctx) {
  (void)sig; (void)ctx;
  if (info->si_code == SI_ASYNCIO) handled_on_tid = (sig_atomic_t)syscall(SYS_gettid);
}

static void sigev_thread_id_signals_exactly_the_named_thread(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_thread_signal;
  sa.sa_flags = SA_SIGINFO;
  CHECK(sigaction(SIGRTMIN + 2, &sa, NULL) == 0);
  int fd = scratch_file(0);
  struct aiocb w;
  fill_aiocb(&w, fd, "tid", 3, 0);
  w.aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
  w.aio_sigevent.sigev_signo = SIGRTMIN + 2;
  w.aio_sigevent._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  handled_on_tid = 0;
  CHECK(aio_write(&w) == 0);
  CHECK(wait_one(&w) == 0);
  for (int i = 0; i < 500 && handled_on_tid == 0; ++i) usleep(1000);
  CHECK(handled_on_tid == (sig_atomic_t)syscall(SYS_gettid));
  CHECK(aio_return(&w) == 3);
  signal(SIGRTMIN + 2, SIG_DFL);
  close(fd);
}

static pthread_mutex_t calls_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t calls_cond = PTHREAD_COND_INITIALIZER;
static int calls = 0;
static int value_sum = 0;
static pthread_t callback_threads[8];

static void on_done(union sigval v) {
  pthread_mutex_lock(&calls_mutex);
  if (calls < 8) callback_threads[calls] = pthread_self();
  ++calls;
  value_sum += v.sival_int;
  pthread_cond_signal(&calls_cond);
  pthread_mutex_unlock(&calls_mutex);
}

static void sigev_thread_runs_each_function_on_one_notification_thread(void) {
  int fd = scratch_file(0);
  struct aiocb w[8];
  for (int i = 0; i < 8; ++i) {
    fill_aiocb(&w[i], fd, "n", 1, i);
    w[i].aio_sigevent.sigev_notify = SIGEV_THREAD;
    w[i].aio_sigevent.sigev_notify_function = on_done;
    w[i].aio_sigevent.sigev_value.sival_int = i + 1;
    CHECK(aio_write(&w[i]) == 0);
  }
  pthread_mutex_lock(&calls_mutex);
  while (calls < 8) pthread_cond_wait(&calls_cond, &calls_mutex);
  pthread_mutex_unlock(&calls_mutex);
  CHECK(value_sum == 36);
  for (int i = 1; i < 8; ++i) CHECK(pthread_equal(callback_threads[i], callback_threads[0]));
  CHECK(!pthread_equal(callback_threads[0], pthread_self()));
  for (int i = 0; i < 8; ++i) CHECK(aio_error(&w[i]) == 0 && aio_return(&w[i]) == 1);
  close(fd);
}

static pthread_mutex_t list_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t list_cond = PTHREAD_COND_INITIALIZER;
static int list_calls = 0;
static pid_t list_tids[2];
static int list_members_final = 1;
static struct aiocb* list_members[2];

static void on_list_done(union sigval v) {
  pthread_mutex_lock(&list_mutex);
  for (int i = 0; i < 2; ++i)
    if (aio_error(list_members[i]) == EINPROGRESS) list_members_final = 0;
  if (list_calls < 2) list_tids[list_calls] = (pid_t)syscall(SYS_gettid);
  list_calls += v.sival_int;
  pthread_cond_signal(&list_cond);
  pthread_mutex_unlock(&list_mutex);
}

static int wait_list_calls(int n) { return wait_for_count(&list_mutex, &list_cond, &list_calls, n); }

/* A list's SIGEV_THREAD runs once, after its last member completed, on the library's notification
 * thread: two lists are notified on the same kernel thread (a thread per notification, as glibc
 * makes, would be a new one each time). */
static void sigev_thread_for_a_list_runs_once_after_every_member_on_the_notification_thread(void) {
  int p[2];
  char a[1], b[1];
  struct aiocb r1, r2;
  empty_pipe_read(p, &r1, a, 1);
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = on_list_done;
  ev.sigev_value.sival_int = 1;
  list_members[0] = &r1;
  list_members[1] = &r2;
  for (int round = 0; round < 2; ++round) {
    fill_aiocb(&r1, p[0], a, 1, 0); /* the aiocbs of the last round are free again */
    r1.aio_lio_opcode = LIO_READ;
    r2 = r1; /* a second reader of the same pipe */
    r2.aio_buf = b;
    struct aiocb* list[2] = {&r1, &r2};
    CHECK(lio_listio(LIO_NOWAIT, list, 2, &ev) == 0);
    CHECK(write(p[1], "1", 1) == 1);
    const struct aiocb* both[2] = {&r1, &r2};
    CHECK(aio_suspend(both, 2, NULL) == 0);
    usleep(20000);
    CHECK(wait_list_calls(round) == round); /* one member still reads: no notification yet */
    CHECK(write(p[1], "2", 1) == 1);
    CHECK(wait_list_calls(round + 1) == round + 1);
    CHECK(wait_one(&r1) == 0 && aio_return(&r1) == 1);
    CHECK(wait_one(&r2) == 0 && aio_return(&r2) == 1);
  }
  usleep(20000);
  CHECK(wait_list_calls(2) == 2); /* once per list, not once per member */
  CHECK(list_members_final == 1);
  CHECK(list_tids[0] == list_tids[1]);
  CHECK(list_tids[0] != (pid_t)syscall(SYS_gettid));
  close_pipe(p);
}

static void an_unknown_notification_kind_is_einval(void) {
  int fd = scratch_file(0);
  struct aiocb w;
  fill_aiocb(&w, fd, "x", 1, 0);
  w.aio_sigevent.sigev_notify = 99;
  errno = 0;
  CHECK(aio_write(&w) == -1 && errno == EINVAL);
  close(fd);
}

static const struct aio_test tests[] = {
    TEST(sigev_signal_carries_si_asyncio_and_the_callers_value),
    TEST(a_cancelled_request_still_sends_its_signal_with_its_value),
    TEST(sigev_thread_id_signals_exactly_the_named_thread),
    TEST(sigev_thread_runs_each_function_on_one_notification_thread),
    TEST(sigev_thread_for_a_list_runs_once_after_every_member_on_the_notification_thread),
    TEST(an_unknown_notification_kind_is_einval),
};

int main(void) { return run_aio_tests(tests, sizeof tests / sizeof tests[0]); }
