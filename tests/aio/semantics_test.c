/* POSIX's aio_read, aio_write, aio_fsync, aio_error, aio_return and aio_cancel, one behaviour per
 * test, written from the Open Group's pages. */
#include "aio_test.h"

#include <limits.h>
#include <stdint.h>

static void a_write_then_a_read_at_an_offset_move_exactly_those_bytes(void) {
  int fd = scratch_file(0);
  char out[] = "0123456789abcdef";
  struct aiocb w;
  fill_aiocb(&w, fd, out, 16, 100);
  CHECK(aio_write(&w) == 0);
  CHECK(wait_one(&w) == 0);
  CHECK(aio_return(&w) == 16);

  char in[8] = {0};
  struct aiocb r;
  fill_aiocb(&r, fd, in, 8, 104);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == 8);
  CHECK(memcmp(in, "456789ab", 8) == 0);
  /* The write went to offset 100, not to the start: the first 100 bytes are a hole of zeros. */
  char head[4] = {1, 1, 1, 1};
  CHECK(pread(fd, head, 4, 0) == 4 && head[0] == 0 && head[3] == 0);
  close(fd);
}

static void aio_error_says_einprogress_until_the_request_completes(void) {
  int p[2];
  char buf[4];
  struct aiocb r;
  pending_pipe_read(p, &r, buf, 4);
  usleep(20000);
  CHECK(aio_error(&r) == EINPROGRESS); /* nothing written yet: the read cannot be done */
  CHECK(write(p[1], "ping", 4) == 4);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == 4 && memcmp(buf, "ping", 4) == 0);
  close_pipe(p);
}

static void a_read_past_the_end_is_short_and_says_how_many_bytes_it_got(void) {
  int fd = scratch_file(0);
  CHECK(pwrite(fd, "abc", 3, 0) == 3);
  char buf[64];
  struct aiocb r;
  fill_aiocb(&r, fd, buf, sizeof buf, 1);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == 2);
  CHECK(memcmp(buf, "bc", 2) == 0);
  fill_aiocb(&r, fd, buf, sizeof buf, 1000);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == 0);
  CHECK(aio_return(&r) == 0); /* at end of file: zero bytes, no error */
  close(fd);
}

static void o_append_writes_append_whatever_the_offset(void) {
  int fd = scratch_file(O_APPEND);
  CHECK(write(fd, "head", 4) == 4);
  struct aiocb w;
  fill_aiocb(&w, fd, "tail", 4, 0);
  CHECK(aio_write(&w) == 0);
  CHECK(wait_one(&w) == 0);
  CHECK(aio_return(&w) == 4);
  char all[9] = {0};
  CHECK(pread(fd, all, 8, 0) == 8);
  CHECK(memcmp(all, "headtail", 8) == 0);
  close(fd);
}

static void aio_return_gives_the_result_once_then_einval(void) {
  int fd = scratch_file(0);
  struct aiocb w;
  fill_aiocb(&w, fd, "x", 1, 0);
  CHECK(aio_write(&w) == 0);
  CHECK(wait_one(&w) == 0);
  CHECK(aio_return(&w) == 1);
  errno = 0;
  CHECK(aio_return(&w) == -1 && errno == EINVAL);
  close(fd);
}

static void aio_return_on_an_aiocb_never_submitted_is_einval(void) {
  struct aiocb never;
  memset(&never, 0, sizeof never);
  errno = 0;
  CHECK(aio_return(&never) == -1 && errno == EINVAL);
}

static void a_failed_read_reports_its_errno_through_aio_error_and_minus_one_from_aio_return(void) {
  int fd = open("/proc/self", O_RDONLY | O_DIRECTORY);
  CHECK(fd >= 0);
  char buf[16];
  struct aiocb r;
  fill_aiocb(&r, fd, buf, sizeof buf, 0);
  CHECK(aio_read(&r) == 0);
  CHECK(wait_one(&r) == EISDIR);
  CHECK(aio_return(&r) == -1);
  close(fd);
}

static void a_closed_descriptor_is_ebadf(void) {
  int fd = scratch_file(0);
  close(fd);
  char buf[4];
  struct aiocb r;
  fill_aiocb(&r, fd, buf, 4, 0);
  errno = 0;
  CHECK(aio_read(&r) == -1 && errno == EBADF);
  errno = 0;
  CHECK(aio_write(&r) == -1 && errno == EBADF);
  errno = 0;
  CHECK(aio_fsync(O_SYNC, &r) == -1 && errno == EBADF);
  errno = 0;
  CHECK(aio_cancel(fd, NULL) == -1 && errno == EBADF);
}

static void aio_cancel_with_an_aiocb_of_another_descriptor_is_einval(void) {
  int p[2];
  char c[1];
  struct aiocb r;
  pending_pipe_read(p, &r, c, 1);
  errno = 0;
  CHECK(aio_cancel(p[1], &r) == -1 && errno == EINVAL);
  CHECK(aio_error(&r) == EINPROGRESS); /* untouched by the refused call */
  CHECK(write(p[1], "c", 1) == 1);
  CHECK(wait_one(&r) == 0 && aio_return(&r) == 1);
  close_pipe(p);
}

static void reading_a_write_only_descriptor_is_ebadf(void) {
  int p[2];
  CHECK(pipe(p) == 0);
  char buf[4];
  struct aiocb r;
  fill_aiocb(&r, p[1], buf, 4, 0);
  errno = 0;
  CHECK(aio_read(&r) == -1 && errno == EBADF);
  close_pipe(p);
}

static void a_negative_offset_is_einval(void) {
  int fd = scratch_file(0);
  char buf[4];
  struct aiocb r;
  fill_aiocb(&r, fd, buf, 4, -1);
  errno = 0;
  CHECK(aio_read(&r) == -1 && errno == EINVAL);
  close(fd);
}

static void a_request_priority_out_of_range_is_einval(void) {
  int fd = scratch_file(0);
  char buf[4];
  struct aiocb r;
  fill_aiocb(&r, fd, buf, 4, 0);
  r.aio_reqprio = AIO_PRIO_DELTA_MAX + 1;
  errno = 0;
  CHECK(aio_read(&r) == -1 && errno == EINVAL);
  r.aio_reqprio = -1;
  errno = 0;
  CHECK(aio_write(&r) == -1 && errno == EINVAL);
  close(fd);
}

static void a_length_beyond_ssize_max_is_einval(void) {
  int fd = scratch_file(0);
  char buf[4];
  struct aiocb r;
  fill_aiocb(&r, fd, buf, (size_t)SSIZE_MAX + 1, 0);
  errno = 0;
  CHECK(aio_read(&r) == -1 && errno == EINVAL);
  close(fd);
}

static void aio_fsync_takes_o_sync_and_o_dsync_and_nothing_else(void) {
  int fd = scratch_file(0);
  CHECK(write(fd, "data", 4) == 4);
  struct aiocb s;
  fill_aiocb(&s, fd, NULL, 0, 0);
  CHECK(aio_fsync(O_SYNC, &s) == 0);
  CHECK(wait_one(&s) == 0);
  CHECK(aio_return(&s) == 0);
  CHECK(aio_fsync(O_DSYNC, &s) == 0);
  CHECK(wait_one(&s) == 0);
  CHECK(aio_return(&s) == 0);
  errno = 0;
  CHECK(aio_fsync(O_RDWR, &s) == -1 && errno == EINVAL);
  close(fd);
}

/* POSIX: aio_fsync covers every request queued on the descriptor when it was called, so its
 * completion means the write before it completed too, and its bytes are in the file. */
static void aio_fsync_completes_after_the_write_before_it_with_the_data_in_the_file(void) {
  enum { size = 4 << 20 };
  const int ops[2] = {O_SYNC, O_DSYNC};
  char* data = malloc(size);
  char* back = malloc(size);
  CHECK(data && back);
  if (!data || !back) return;
  for (int k = 0; k < 2; ++k) {
    int fd = scratch_file(0);
    for (int i = 0; i < size; ++i) data[i] = (char)('a' + (i / 4096 + k) % 26);
    struct aiocb w, s;
    fill_aiocb(&w, fd, data, size, 0);
    fill_aiocb(&s, fd, NULL, 0, 0);
    CHECK(aio_write(&w) == 0);
    CHECK(aio_fsync(ops[k], &s) == 0); /* at once: the write is still queued or running */
    CHECK(wait_one(&s) == 0);
    CHECK(aio_error(&w) == 0); /* already final when the fsync is */
    CHECK(aio_return(&w) == size);
    CHECK(aio_return(&s) == 0);
    CHECK(pread(fd, back, size, 0) == size && memcmp(back, data, size) == 0);
    close(fd);
  }
  free(data);
  free(back);
}

/* An aio_fsync queued behind a read that cannot finish (nothing written to the pipe yet) has not
 * started: aio_cancel takes it back, and the read goes on. */
static void an_aio_fsync_waiting_for_the_requests_before_it_is_cancelled(void) {
  int p[2];
  char c[1];
  struct aiocb r, s;
  pending_pipe_read(p, &r, c, 1);
  fill_aiocb(&s, p[0], NULL, 0, 0);
  CHECK(aio_fsync(O_SYNC, &s) == 0);
  usleep(20000);
  CHECK(aio_error(&s) == EINPROGRESS); /* it waits for the read */
  CHECK(aio_cancel(p[0], &s) == AIO_CANCELED);
  CHECK(aio_error(&s) == ECANCELED && aio_return(&s) == -1);
  CHECK(aio_error(&r) == EINPROGRESS);
  CHECK(write(p[1], "r", 1) == 1);
  CHECK(wait_one(&r) == 0 && aio_return(&r) == 1 && c[0] == 'r');
  close_pipe(p);
}

static void aio_cancel_of_a_finished_request_is_alldone(void) {
  int fd = scratch_file(0);
  struct aiocb w;
  fill_aiocb(&w, fd, "z", 1, 0);
  CHECK(aio_write(&w) == 0);
  CHECK(wait_one(&w) == 0);
  CHECK(aio_cancel(fd, &w) == AIO_ALLDONE);
  CHECK(aio_cancel(fd, NULL) == AIO_ALLDONE);
  CHECK(aio_return(&w) == 1);
  close(fd);
}

static void a_read_pending_on_an_empty_pipe_is_cancelled_and_leaves_later_data_to_read(void) {
  int p[2];
  char buf[4] = {0};
  struct aiocb r;
  pending_pipe_read(p, &r, buf, 4);
  usleep(20000); /* let it reach the backend: nothing to read, so it waits there */
  CHECK(aio_cancel(p[0], &r) == AIO_CANCELED);
  CHECK(aio_error(&r) == ECANCELED);
  CHECK(aio_return(&r) == -1);
  /* A cancelled read consumed nothing: what is written afterwards is the next reader's. */
  CHECK(write(p[1], "late", 4) == 4);
  char back[4] = {0};
  CHECK(read(p[0], back, 4) == 4 && memcmp(back, "late", 4) == 0);
  CHECK(memcmp(buf, "\0\0\0\0", 4) == 0);
  close_pipe(p);
}

static void aio_cancel_of_a_descriptor_cancels_every_request_on_it_and_none_elsewhere(void) {
  int a[2], b[2];
  char x[1], y[1], z[1];
  struct aiocb ra1, ra2, rb;
  pending_pipe_read(a, &ra1, x, 1);
  fill_aiocb(&ra2, a[0], y, 1, 0);
  CHECK(aio_read(&ra2) == 0);
  pending_pipe_read(b, &rb, z, 1);
  usleep(20000);
  CHECK(aio_cancel(a[0], NULL) == AIO_CANCELED);
  CHECK(aio_error(&ra1) == ECANCELED && aio_return(&ra1) == -1);
  CHECK(aio_error(&ra2) == ECANCELED && aio_return(&ra2) == -1);
  CHECK(aio_cancel(a[0], NULL) == AIO_ALLDONE); /* nothing left on it */
  /* The other descriptor's read was left alone: it still waits, then gets its byte. */
  CHECK(aio_error(&rb) == EINPROGRESS);
  CHECK(write(b[1], "b", 1) == 1);
  CHECK(wait_one(&rb) == 0 && aio_return(&rb) == 1 && z[0] == 'b');
  CHECK(write(a[1], "a", 1) == 1);
  char back[1];
  CHECK(read(a[0], back, 1) == 1 && back[0] == 'a');
  close_pipe(a);
  close_pipe(b);
}

/* No test can hold a request "running" on purpose: whether an fsync or a read is still queued,
 * inside the kernel or a worker, or already done when aio_cancel arrives depends on the backend,
 * the disk and the scheduler. So this one starts a request that usually takes a while (flushing
 * 32 MiB of dirty pages) and holds each possible answer to what POSIX says it implies. */
static void aio_cancel_of_a_request_under_way_answers_as_its_outcome_shows(void) {
  enum { size = 32 << 20 };
  int fd = scratch_file(0);
  char* data = malloc(size);
  CHECK(data != NULL);
  if (!data) return;
  memset(data, 'd', size);
  CHECK(pwrite(fd, data, size, 0) == size); /* dirty in the page cache */
  struct aiocb s;
  fill_aiocb(&s, fd, NULL, 0, 0);
  CHECK(aio_fsync(O_SYNC, &s) == 0);
  int answer = aio_cancel(fd, &s);
  printf("   aio_cancel answered %s\n", answer == AIO_CANCELED      ? "AIO_CANCELED"
                                       : answer == AIO_NOTCANCELED ? "AIO_NOTCANCELED"
                                       : answer == AIO_ALLDONE     ? "AIO_ALLDONE"
                                                                   : "something else");
  CHECK(answer == AIO_CANCELED || answer == AIO_NOTCANCELED || answer == AIO_ALLDONE);
  if (answer == AIO_CANCELED) {
    CHECK(aio_error(&s) == ECANCELED); /* cancelled: final at once */
    CHECK(aio_return(&s) == -1);
  } else if (answer == AIO_ALLDONE) {
    CHECK(aio_error(&s) == 0); /* done before the cancel, with its own result */
    CHECK(aio_return(&s) == 0);
  } else {
    CHECK(wait_one(&s) == 0); /* not cancelled: it completes with its real result */
    CHECK(aio_return(&s) == 0);
  }
  free(data);
  close(fd);
}

static void many_threads_may_submit_at_once_and_every_byte_lands(void);

static const struct aio_test tests[] = {
    TEST(a_write_then_a_read_at_an_offset_move_exactly_those_bytes),
    TEST(aio_error_says_einprogress_until_the_request_completes),
    TEST(a_read_past_the_end_is_short_and_says_how_many_bytes_it_got),
    TEST(o_append_writes_append_whatever_the_offset),
    TEST(aio_return_gives_the_result_once_then_einval),
    TEST(aio_return_on_an_aiocb_never_submitted_is_einval),
    TEST(a_failed_read_reports_its_errno_through_aio_error_and_minus_one_from_aio_return),
    TEST(a_closed_descriptor_is_ebadf),
    TEST(aio_cancel_with_an_aiocb_of_another_descriptor_is_einval),
    TEST(reading_a_write_only_descriptor_is_ebadf),
    TEST(a_negative_offset_is_einval),
    TEST(a_request_priority_out_of_range_is_einval),
    TEST(a_length_beyond_ssize_max_is_einval),
    TEST(aio_fsync_takes_o_sync_and_o_dsync_and_nothing_else),
    TEST(aio_fsync_completes_after_the_write_before_it_with_the_data_in_the_file),
    TEST(an_aio_fsync_waiting_for_the_requests_before_it_is_cancelled),
    TEST(aio_cancel_of_a_finished_request_is_alldone),
    TEST(a_read_pending_on_an_empty_pipe_is_cancelled_and_leaves_later_data_to_read),
    TEST(aio_cancel_of_a_descriptor_cancels_every_request_on_it_and_none_elsewhere),
    TEST(aio_cancel_of_a_request_under_way_answers_as_its_outcome_shows),
    TEST(many_threads_may_submit_at_once_and_every_byte_lands),
};

#include <pthread.h>

enum { writers = 4, blocks_each = 64, block = 512 };
static int shared_fd;

static void* write_blocks(void* arg) {
  int id = (int)(intptr_t)arg;
  static struct aiocb cbs[writers][blocks_each];
  static char data[writers][blocks_each][block];
  for (int i = 0; i < blocks_each; ++i) {
    memset(data[id][i], 'a' + (id * blocks_each + i) % 26, block);
    fill_aiocb(&cbs[id][i], shared_fd, data[id][i], block, (off_t)(id * blocks_each + i) * block);
    if (aio_write(&cbs[id][i]) != 0) return (void*)1;
  }
  for (int i = 0; i < blocks_each; ++i)
    if (wait_one(&cbs[id][i]) != 0 || aio_return(&cbs[id][i]) != block) return (void*)1;
  return NULL;
}

static void many_threads_may_submit_at_once_and_every_byte_lands(void) {
  shared_fd = scratch_file(0);
  pthread_t t[writers];
  for (int i = 0; i < writers; ++i) CHECK(pthread_create(&t[i], NULL, write_blocks, (void*)(intptr_t)i) == 0);
  for (int i = 0; i < writers; ++i) {
    void* failed = (void*)1;
    CHECK(pthread_join(t[i], &failed) == 0);
    CHECK(failed == NULL);
  }
  char got[block];
  for (int b = 0; b < writers * blocks_each; ++b) {
    CHECK(pread(shared_fd, got, block, (off_t)b * block) == block);
    CHECK(got[0] == 'a' + b % 26 && got[block - 1] == 'a' + b % 26);
  }
  close(shared_fd);
}

int main(void) { return run_aio_tests(tests, sizeof tests / sizeof tests[0]); }
