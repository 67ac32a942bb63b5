// Helpers shared by the cancellation tests: descriptor pairs, outcome classes, resumption
// counting, and iteration counts that shrink under sanitizers.
#pragma once

#include "support.hpp"

#include <couring/couring.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <system_error>

namespace couring::testing {

// Both ends own their descriptor: first is "ours", second the peer (for pipes: read, write).
// Tests bind the ends to named references rather than a structured binding, which clang 14
// cannot capture in a lambda.
struct fd_pair {
  unique_fd first;
  unique_fd second;
};

inline fd_pair socket_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::system_error(errno, std::system_category(), "socketpair");
  return {unique_fd(sv[0]), unique_fd(sv[1])};
}

inline fd_pair pipe_pair() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category(), "pipe2");
  return {unique_fd(p[0]), unique_fd(p[1])};
}

// Reads whatever is queued on a socket or pipe without blocking; returns how many bytes it took.
inline std::size_t drain(int fd) {
  std::size_t total = 0;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return total;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return total;
    total += static_cast<std::size_t>(n);
  }
}

// Connections waiting in a listener's backlog, accepted (and closed) without blocking.
inline std::size_t drain_backlog(int listener) {
  std::size_t n = 0;
  for (;;) {
    pollfd p{listener, POLLIN, 0};  // the listener itself blocks: accept only what is queued
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return n;
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return n;
    ::close(fd);
    ++n;
  }
}

// A non-blocking connect to a unix-domain listener: completes at once while the backlog has room.
inline unique_fd connect_unix(const std::string& path) {
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  auto to = endpoint::unix_path(path).value();
  if (::connect(fd.get(), to.data(), to.size()) != 0)
    throw std::system_error(errno, std::system_category(), "connect");
  return fd;
}

// The outcome classes every op ends in.
enum class outcome { value, canceled, timed_out, other_error };

inline outcome classify(std::error_code e) noexcept {
  if (!e) return outcome::value;
  if (e == std::errc::operation_canceled) return outcome::canceled;
  if (e == std::errc::timed_out) return outcome::timed_out;
  return outcome::other_error;
}
template <class R>
outcome classify_result(const R& r) noexcept {
  return r ? outcome::value : classify(r.error());
}

inline const char* name_of(outcome o) noexcept {
  switch (o) {
    case outcome::value: return "value";
    case outcome::canceled: return "operation_canceled";
    case outcome::timed_out: return "timed_out";
    case outcome::other_error: return "other error";
  }
  return "?";
}

// Threads of this process, without io_uring's kernel workers (iou-wrk-*, iou-sqp-*): those
// belong to the kernel, which retires them on its own schedule.
std::size_t user_thread_count();

// True when built with ASan or TSan: long loops are scaled down there (see scaled()).
constexpr bool under_sanitizer() noexcept {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

// `n` in a normal build, n / `sanitizer_divisor` under a sanitizer (never below 1). Either can be
// overridden by COURING_TEST_ITERATIONS_PERCENT (e.g. 10 for a tenth, 200 for twice as many).
std::size_t scaled(std::size_t n, std::size_t sanitizer_divisor);

// A seed for a test's RNG: fixed so that failures reproduce, overridable by COURING_TEST_SEED.
std::uint32_t test_seed(std::uint32_t fallback);

// The index of a request kind, for backend_stats' arrays.
template <class Req>
constexpr std::size_t kind_of() noexcept {
  return request(Req{}).index();
}

inline std::uint64_t total_submitted(const backend_stats& s) noexcept {
  std::uint64_t n = 0;
  for (auto k : s.submitted) n += k;
  return n;
}

}  // namespace couring::testing
