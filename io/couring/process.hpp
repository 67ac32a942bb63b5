// Child processes whose exit can be awaited, through a pidfd: readiness of the pidfd (on both
// backends) says the child exited, then waitid(P_PIDFD, WNOHANG) collects its status. No SIGCHLD
// handler is installed, so other libraries' child handling is left alone.
#pragma once

#include <couring/result.hpp>
#include <couring/task.hpp>
#include <couring/unique_fd.hpp>

#include <sys/types.h>

#include <string>
#include <vector>

namespace couring {

struct exit_status {
  int code = -1;    // the exit code when the child exited normally
  int signal = 0;   // the terminating signal when it was killed
  bool exited() const noexcept { return signal == 0; }
  bool killed() const noexcept { return signal != 0; }
};

struct spawn_options {
  // Descriptors for the child's stdin, stdout, stderr; -1 inherits the parent's.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

class child_process {
 public:
  // posix_spawnp(argv[0], argv) plus a pidfd for it. ENOENT when the program is not found.
  static result<child_process> spawn(const std::vector<std::string>& argv, const spawn_options& options = {});
  // A pidfd for an existing child of this process (ESRCH if there is none with that pid).
  static result<child_process> adopt(pid_t pid);

  child_process(child_process&&) noexcept = default;
  child_process& operator=(child_process&&) noexcept = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  int pidfd() const noexcept { return pidfd_.get(); }

  // Waits for the child to exit and reaps it. Cancellable (the child keeps running).
  task<result<exit_status>> wait() const;

  // Sends a signal through the pidfd (never to a recycled pid).
  result<void> kill(int signal) const noexcept;

 private:
  child_process(pid_t pid, unique_fd pidfd) noexcept : pid_(pid), pidfd_(std::move(pidfd)) {}
  pid_t pid_ = -1;
  unique_fd pidfd_;
};

// Waits for the child `pid` of this process to exit.
task<result<exit_status>> wait_child(pid_t pid);

}  // namespace couring
