/* The engine's life: fork() leaves the child a working, empty engine, and exit with requests in
 * flight neither hangs nor crashes. aio_error and aio_suspend from a signal handler. */
#include "aio_test.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static void a_forked_child_gets_a_working_engine_of_its_own(void) {
  int fd = scratch_file(0);
  struct aiocb w;
  fill_aiocb(&w, fd, "parent", 6, 0);
  CHECK(aio_write(&w) == 0);
  CHECK(wait_one(&w) == 0 && aio_return(&w) == 6);
  pid_t child = fork();
  if (child == 0) {
    struct aiocb c;
    fill_aiocb(&c, fd, "child!", 6, 6);
    if (aio_write(&c) != 0 || wait_one(&c) != 0 || aio_return(&c) != 6) _exit(1);
    struct couring_aio_counters k;
    couring_aio_counters(&k);
    _exit(k.completed >= 1 ? 0 : 2);
  }
  int status = -1;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char all[12];
  CHECK(pread(fd, all, 12, 0) == 12 && memcmp(all, "parentchild!", 12) == 0);
  /* The parent's engine still serves the parent. */
  fill_aiocb(&w, fd, "again", 5, 12);
  CHECK(aio_write(&w) == 0);
  CHECK(wait_one(&w) == 0 && aio_return(&w) == 5);
  close(fd);
}

static void exit_with_a_request_in_flight_neither_hangs_nor_crashes(void) {
  int p[2];
  static char c[1];
  static struct aiocb r;
  empty_pipe_read(p, &r, c, 1);
  pid_t child = fork();
  if (child == 0) {
    if (aio_read(&r) != 0) _exit(1);
    exit(0); /* never completes: nobody writes */
  }
  int status = -1;
  for (int i = 0; i < 500; ++i) {
    if (waitpid(child, &status, WNOHANG) == child) break;
    usleep(10000);
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (!WIFEXITED(status)) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  close_pipe(p);
}

static struct aiocb handler_cb;
static volatile sig_atomic_t handler_saw = -1;
static void check_from_handler(int sig) {
  (void)sig;
  const struct aiocb* list[1] = {&handler_cb};
  struct timespec t = {2, 0};
  if (aio_suspend(list, 1, &t) == 0) handler_saw = aio_error(&handler_cb);
}

static void aio_error_and_aio_suspend_work_inside_a_signal_handler(void) {
  int fd = scratch_file(0);
  fill_aiocb(&handler_cb, fd, "h", 1, 0);
  CHECK(aio_write(&handler_cb) == 0);
  signal(SIGUSR1, check_from_handler);
  raise(SIGUSR1);
  CHECK(handler_saw == 0);
  CHECK(aio_return(&handler_cb) == 1);
  signal(SIGUSR1, SIG_DFL);
  close(fd);
}

static const struct aio_test tests[] = {
    TEST(a_forked_child_gets_a_working_engine_of_its_own),
    TEST(exit_with_a_request_in_flight_neither_hangs_nor_crashes),
    TEST(aio_error_and_aio_suspend_work_inside_a_signal_handler),
};

int main(void) { return run_aio_tests(tests, sizeof tests / sizeof tests[0]); }
