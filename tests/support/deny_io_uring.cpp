#include "deny_io_uring.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <initializer_list>
#include <vector>

#if defined(__x86_64__)
#define COURING_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define COURING_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "add this architecture's AUDIT_ARCH value"
#endif

namespace couring::testing {
namespace {

// A filter that makes each of `syscalls` fail with `error` and lets everything else through.
int deny_syscalls(std::initializer_list<unsigned> syscalls, int error) noexcept {
  const unsigned deny = SECCOMP_RET_ERRNO | (static_cast<unsigned>(error) & SECCOMP_RET_DATA);
  std::vector<sock_filter> filter;
  try {
    // Only judge syscalls of the native ABI; anything else passes untouched.
    filter.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    filter.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, COURING_AUDIT_ARCH, 1, 0));
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    filter.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    unsigned left = static_cast<unsigned>(syscalls.size());
    for (unsigned nr : syscalls) {  // a match jumps over the remaining tests and the ALLOW
      filter.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, static_cast<unsigned char>(left), 0));
      --left;
    }
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, deny));
  } catch (...) {
    return -ENOMEM;
  }
  sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
  // Unprivileged processes may install a filter only once they can gain no privileges.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -errno;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) < 0) return -errno;
  return 0;
}

}  // namespace

int deny_io_uring(int error) noexcept {
  return deny_syscalls({__NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register}, error);
}

int deny_thread_creation(int error) noexcept { return deny_syscalls({__NR_clone, __NR_clone3}, error); }

}  // namespace couring::testing
