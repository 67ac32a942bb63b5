// deny-io-uring ENOSYS|EPERM PROGRAM [ARGS...]: runs PROGRAM with io_uring denied by seccomp, as a
// container profile would. Used by the test matrix and the demo to show the automatic fallback.
#include "deny_io_uring.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ENOSYS|EPERM PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  int error;
  if (std::strcmp(argv[1], "ENOSYS") == 0) error = ENOSYS;
  else if (std::strcmp(argv[1], "EPERM") == 0) error = EPERM;
  else {
    std::fprintf(stderr, "%s: unknown errno '%s' (expected ENOSYS or EPERM)\n", argv[0], argv[1]);
    return 2;
  }
  if (int r = couring::testing::deny_io_uring(error); r < 0) {
    std::fprintf(stderr, "%s: cannot install the seccomp filter: %s\n", argv[0], std::strerror(-r));
    return 1;
  }
  execvp(argv[2], argv + 2);
  std::fprintf(stderr, "%s: cannot run %s: %s\n", argv[0], argv[2], std::strerror(errno));
  return 127;
}
