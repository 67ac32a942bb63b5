#include "fallback_support.hpp"

#include "deny_io_uring.hpp"

#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <tuple>

namespace couring::testing {
namespace {

[[noreturn]] void fail_errno(const char* what) { throw std::system_error(errno, std::system_category(), what); }

void write_all_fd(int fd, const std::string& s) noexcept {
  std::size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

std::string read_to_eof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// waitpid, decoded.
std::pair<bool, int> wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail_errno("waitpid");
  }
  if (WIFEXITED(status)) return {true, WEXITSTATUS(status)};
  return {false, WIFSIGNALED(status) ? WTERMSIG(status) : -1};
}

}  // namespace

void counter::increment() noexcept {
  ++value_;
  if (waiting_ && value_ >= target_) {
    waiting_ = false;
    scheduler::current()->post(item_);
  }
}

void counter::awaiter::await_suspend(std::coroutine_handle<> h) noexcept {
  COURING_ASSERT(!c_.waiting_, "a counter has one waiter at a time");
  c_.waiting_ = true;
  c_.target_ = target_;
  c_.item_.handle = h;
}

scoped_env::scoped_env(const char* name, const char* value) : name_(name) {
  if (const char* v = std::getenv(name)) previous_ = v;
  if (value) ::setenv(name, value, 1); else ::unsetenv(name);
}

scoped_env::~scoped_env() {
  if (previous_) ::setenv(name_.c_str(), previous_->c_str(), 1); else ::unsetenv(name_.c_str());
}

void expectations::check(bool ok, const std::string& what) {
  if (!ok) failures_ += "expected: " + what + "\n";
}

void expectations::contains(const std::string& text, const std::string& part, const std::string& what) {
  if (text.find(part) == std::string::npos)
    failures_ += "expected " + what + " to contain \"" + part + "\"; it is \"" + text + "\"\n";
}

child_outcome in_child(const std::function<std::string()>& fn) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) fail_errno("pipe2");
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    try {
      report = fn();
    } catch (const std::exception& e) {
      report = std::string("exception in the child: ") + e.what();
    } catch (...) {
      report = "non-std exception in the child";
    }
    write_all_fd(fds[1], report);
    std::fflush(nullptr);
    ::_exit(0);  // no static destructors or atexit handlers of the parent's copy
  }
  ::close(fds[1]);
  child_outcome out;
  out.report = read_to_eof(fds[0]);
  ::close(fds[0]);
  std::tie(out.exited, out.status) = wait_for(pid);
  return out;
}

program_outcome run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                            int deny_errno) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> environment;
  for (char** e = environ; *e; ++e) environment.emplace_back(*e);
  for (const std::string& change : env) {
    std::string prefix = change.substr(0, change.find('=') + 1);
    std::erase_if(environment, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    if (change.size() > prefix.size()) environment.push_back(change);
  }
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) fail_errno("pipe2");
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (deny_errno != 0 && deny_io_uring(deny_errno) < 0) ::_exit(126);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  program_outcome out;
  out.output = read_to_eof(fds[0]);
  ::close(fds[0]);
  std::tie(out.exited, out.status) = wait_for(pid);
  return out;
}

stderr_capture::stderr_capture() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) fail_errno("pipe2");
  std::fflush(stderr);
  saved_ = ::dup(2);
  ::dup2(fds[1], 2);
  ::close(fds[1]);
  read_end_ = fds[0];
}

std::string stderr_capture::finish() {
  if (finished_) return captured_;
  finished_ = true;
  std::fflush(stderr);
  ::dup2(saved_, 2);  // the pipe's last write end closes: the read below ends
  ::close(saved_);
  captured_ = read_to_eof(read_end_);
  ::close(read_end_);
  return captured_;
}

stderr_capture::~stderr_capture() { finish(); }

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) fail_errno("readlink(/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

worker_blocker::worker_blocker() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) fail_errno("socketpair");
  receiver_.reset(fds[0]);
  sender_.reset(fds[1]);
}

size_awaitable worker_blocker::hold() noexcept { return recv(receiver_.get(), buffer(buf_), MSG_WAITALL); }

void worker_blocker::send_some(std::size_t n) {
  if (sent_ + n > size) throw std::logic_error("worker_blocker: more bytes than the held recv waits for");
  std::string bytes(n, 'b');
  if (::send(sender_.get(), bytes.data(), n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) fail_errno("send");
  sent_ += n;
}

void worker_blocker::release() { send_some(size - sent_); }

std::size_t worker_blocker::unread() const {
  int n = 0;
  if (::ioctl(receiver_.get(), FIONREAD, &n) < 0) fail_errno("ioctl(FIONREAD)");
  return static_cast<std::size_t>(n);
}

std::string raise_fd_limit(std::uint64_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) < 0) return std::string("getrlimit: ") + std::strerror(errno);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= wanted) return {};
  rlimit raised = lim;
  raised.rlim_cur = wanted;
  if (raised.rlim_max != RLIM_INFINITY && raised.rlim_max < wanted) raised.rlim_max = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &raised) < 0) {
    return "RLIMIT_NOFILE is " + std::to_string(lim.rlim_cur) + " (hard " + std::to_string(lim.rlim_max) +
           ") and cannot be raised to " + std::to_string(wanted) + ": " + std::strerror(errno);
  }
  return {};
}

}  // namespace couring::testing
