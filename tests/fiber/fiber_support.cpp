#include "fiber_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

extern char** environ;

namespace couring::testing {

fd_pair socket_pair(int type) {
  int sv[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::system_error(errno, std::system_category(), "socketpair");
  return {unique_fd(sv[0]), unique_fd(sv[1])};
}

fd_pair pipe_pair() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category(), "pipe2");
  return {unique_fd(p[0]), unique_fd(p[1])};
}

std::size_t drain(int fd) {
  std::size_t total = 0;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return total;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == ENOTSOCK) n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return total;
    total += static_cast<std::size_t>(n);
  }
}

std::vector<mapping> memory_maps() {
  std::vector<mapping> out;
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string range;
    mapping m;
    s >> range >> m.perms;
    auto dash = range.find('-');
    m.start = std::stoull(range.substr(0, dash), nullptr, 16);
    m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
    out.push_back(std::move(m));
  }
  return out;
}

const mapping* mapping_of(const std::vector<mapping>& maps, const void* address) {
  auto a = reinterpret_cast<std::uintptr_t>(address);
  for (const mapping& m : maps)
    if (m.contains(a)) return &m;
  return nullptr;
}

const mapping* mapping_below(const std::vector<mapping>& maps, const mapping& m) {
  for (const mapping& other : maps)
    if (other.end == m.start) return &other;
  return nullptr;
}

child_outcome run_self(const std::vector<std::string>& args) {
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category(), "pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);

  std::string self = "/proc/self/exe";
  std::vector<char*> argv;
  argv.push_back(self.data());
  std::vector<std::string> copies(args);
  for (std::string& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    throw std::system_error(rc, std::system_category(), "posix_spawn");
  }
  child_outcome out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
    if (n > 0) {
      out.err.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    out.exited = true;
    out.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signaled = true;
    out.signal = WTERMSIG(status);
  }
  return out;
}

std::size_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace couring::testing
