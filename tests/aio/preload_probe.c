/* An ordinary glibc POSIX-AIO program, built like fio on Debian (_FILE_OFFSET_BITS=64, so it
 * imports aio_write64 and friends) and linked against nothing of couring's. Run under
 * LD_PRELOAD=libcouring-aio.so, it proves who served it: the library's counters, found with
 * dlsym, must have counted its requests, and its bytes must be right. */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct counters {
  uint64_t submitted, completed;
};

int main(void) {
  char path[] = "/tmp/couring-aio-preload-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  unlink(path);
  static char out[16][4096], in[16][4096];
  struct aiocb cbs[16];
  const struct aiocb* list[16];
  for (int i = 0; i < 16; ++i) {
    memset(out[i], 'A' + i, sizeof out[i]);
    memset(&cbs[i], 0, sizeof cbs[i]);
    cbs[i].aio_fildes = fd;
    cbs[i].aio_buf = out[i];
    cbs[i].aio_nbytes = sizeof out[i];
    cbs[i].aio_offset = (off_t)i * 4096;
    if (aio_write(&cbs[i]) != 0) return 2;
    list[i] = &cbs[i];
  }
  for (int i = 0; i < 16; ++i) {
    while (aio_error(&cbs[i]) == EINPROGRESS) aio_suspend(list, 16, NULL);
    if (aio_return(&cbs[i]) != 4096) return 3;
  }
  for (int i = 0; i < 16; ++i) {
    cbs[i].aio_buf = in[i];
    if (aio_read(&cbs[i]) != 0) return 4;
  }
  for (int i = 0; i < 16; ++i) {
    while (aio_error(&cbs[i]) == EINPROGRESS) aio_suspend(list, 16, NULL);
    if (aio_return(&cbs[i]) != 4096 || memcmp(in[i], out[i], 4096) != 0) return 5;
  }
  void (*read_counters)(struct counters*);
  void* symbol = dlsym(RTLD_DEFAULT, "couring_aio_counters");
  memcpy(&read_counters, &symbol, sizeof symbol); /* ISO C has no object-to-function pointer cast */
  if (!read_counters) {
    printf("FAIL: couring_aio_counters not found: glibc served this program\n");
    return 6;
  }
  struct counters k;
  read_counters(&k);
  printf("served by libcouring-aio: %llu submitted, %llu completed\n", (unsigned long long)k.submitted,
         (unsigned long long)k.completed);
  printf("couring-test-summary: %d passed, %d failed\n", k.submitted >= 32 && k.completed >= 32, !(k.submitted >= 32 && k.completed >= 32));
  return k.submitted >= 32 && k.completed >= 32 ? 0 : 7;
}
