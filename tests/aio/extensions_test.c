/* <couring/aio.h>: couring_aio_waitcomplete and the pollable descriptor. */
#include "aio_test.h"

#include <poll.h>
#include <time.h>

static void waitcomplete_refuses_until_queueing_is_on(void) {
  struct aiocb* done = NULL;
  struct timespec zero = {0, 0};
  errno = 0;
  CHECK(couring_aio_waitcomplete(&done, &zero) == -1 && errno == EINVAL);
  errno = 0;
  CHECK(couring_aio_fd() == -1 && errno == EINVAL);
}

static void waitcomplete_hands_over_each_completed_aiocb_once_with_its_result(void) {
  CHECK(couring_aio_queue_completions() == 0);
  int fd = scratch_file(0);
  struct aiocb w[3];
  const char* words[3] = {"a", "bb", "ccc"};
  for (int i = 0; i < 3; ++i) {
    fill_aiocb(&w[i], fd, (void*)words[i], (size_t)(i + 1), i * 8);
    CHECK(aio_write(&w[i]) == 0);
  }
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    struct aiocb* done = NULL;
    struct timespec t = {5, 0};
    ssize_t n = couring_aio_waitcomplete(&done, &t);
    CHECK(done >= &w[0] && done <= &w[2]);
    if (done >= &w[0] && done <= &w[2]) {
      CHECK(n == done - &w[0] + 1);
      ++seen[done - &w[0]];
      errno = 0;
      CHECK(aio_return(done) == -1 && errno == EINVAL); /* consumed by waitcomplete */
    }
  }
  CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
  close(fd);
}

static void waitcomplete_times_out_with_eagain(void) {
  struct aiocb* done = (struct aiocb*)1;
  struct timespec t = {0, 20 * 1000 * 1000};
  errno = 0;
  CHECK(couring_aio_waitcomplete(&done, &t) == -1 && errno == EAGAIN);
  CHECK(done == NULL);
}

static void the_descriptor_is_readable_exactly_while_completions_are_queued(void) {
  int afd = couring_aio_fd();
  CHECK(afd >= 0);
  struct pollfd pfd = {afd, POLLIN, 0};
  CHECK(poll(&pfd, 1, 0) == 0); /* nothing queued */
  int p[2];
  char c[1];
  struct aiocb r;
  pending_pipe_read(p, &r, c, 1);
  CHECK(write(p[1], "!", 1) == 1);
  CHECK(poll(&pfd, 1, 5000) == 1 && (pfd.revents & POLLIN));
  struct aiocb* done = NULL;
  CHECK(couring_aio_waitcomplete(&done, NULL) == 1 && done == &r && c[0] == '!');
  pfd.revents = 0;
  CHECK(poll(&pfd, 1, 0) == 0);
  close_pipe(p);
}

static const struct aio_test tests[] = {
    TEST(waitcomplete_refuses_until_queueing_is_on),
    TEST(waitcomplete_hands_over_each_completed_aiocb_once_with_its_result),
    TEST(waitcomplete_times_out_with_eagain),
    TEST(the_descriptor_is_readable_exactly_while_completions_are_queued),
};

int main(void) { return run_aio_tests(tests, sizeof tests / sizeof tests[0]); }
