#include <couring/ops.hpp>
#include <couring/process.hpp>

#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <signal.h>

extern char** environ;

namespace couring {
namespace {

#ifndef P_PIDFD
#define P_PIDFD 3  // Linux 5.4; glibc 2.36 headers may lack it
#endif

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

result<unique_fd> open_pidfd(pid_t pid) noexcept {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return last_error();
  return unique_fd(fd);
}

class spawn_actions {
 public:
  spawn_actions() { posix_spawn_file_actions_init(&actions_); }
  ~spawn_actions() { posix_spawn_file_actions_destroy(&actions_); }
  spawn_actions(const spawn_actions&) = delete;
  spawn_actions& operator=(const spawn_actions&) = delete;
  void redirect(int from, int to) {
    if (from >= 0) posix_spawn_file_actions_adddup2(&actions_, from, to);
  }
  posix_spawn_file_actions_t* get() noexcept { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

}  // namespace

result<child_process> child_process::spawn(const std::vector<std::string>& argv, const spawn_options& options) {
  if (argv.empty()) return std::errc::invalid_argument;
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  spawn_actions actions;
  actions.redirect(options.stdin_fd, 0);
  actions.redirect(options.stdout_fd, 1);
  actions.redirect(options.stderr_fd, 2);
  // The child starts with the default signal mask, not the loop thread's (which blocks the
  // signals of any signal_set).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int r = posix_spawnp(&pid, args[0], actions.get(), &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (r != 0) return std::error_code(r, std::system_category());
  // The child cannot be reaped before we open the pidfd (only we wait for it), so the pid still
  // names it here.
  auto fd = open_pidfd(pid);
  if (!fd) return fd.error();
  return child_process(pid, std::move(*fd));
}

result<child_process> child_process::adopt(pid_t pid) {
  auto fd = open_pidfd(pid);
  if (!fd) return fd.error();
  return child_process(pid, std::move(*fd));
}

task<result<exit_status>> child_process::wait() const {
  for (;;) {
    auto ready = co_await poll(pidfd_.get(), POLLIN);
    if (!ready) co_return ready.error();
    siginfo_t info{};
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED | WNOHANG) < 0)
      co_return last_error();
    if (info.si_pid == 0) continue;  // readable but not yet collectable: wait again
    exit_status status;
    if (info.si_code == CLD_EXITED) status.code = info.si_status;
    else status.signal = info.si_status;
    co_return status;
  }
}

result<void> child_process::kill(int signal) const noexcept {
  if (::syscall(SYS_pidfd_send_signal, pidfd_.get(), signal, nullptr, 0) < 0) return last_error();
  return {};
}

task<result<exit_status>> wait_child(pid_t pid) {
  auto child = child_process::adopt(pid);
  if (!child) co_return child.error();
  co_return co_await child->wait();
}

}  // namespace couring
