#include "uring_support.hpp"

#include <catch2/catch.hpp>

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace couring::testing {

void fill_stream(std::byte* out, std::size_t n, std::uint64_t seed, std::uint64_t offset) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(stream_byte(seed, offset + i));
}

std::size_t first_stream_mismatch(const std::byte* data, std::size_t n, std::uint64_t seed, std::uint64_t offset) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (data[i] != static_cast<std::byte>(stream_byte(seed, offset + i))) return i;
  }
  return n;
}

loopback_listener listen_on_loopback() {
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  auto at = listener->local_endpoint();
  REQUIRE(at);
  return {std::move(*listener), *at};
}

task<result<loopback_connection>> loopback_tcp() {
  loopback_listener l = listen_on_loopback();
  // The handshake completes into the backlog, so connecting before accepting cannot block.
  auto near = co_await tcp_stream::connect(l.at);
  if (!near) co_return near.error();
  auto far = co_await l.listener.accept();
  if (!far) co_return far.error();
  co_return loopback_connection{std::move(*near), std::move(*far)};
}

backend_stats shard_stats() {
  runtime* rt = runtime::current();
  // Tests run on shard 0, the thread that called run(); anything else is a mistake in the test.
  if (!rt || scheduler::current() != &rt->sched()) throw std::logic_error("shard_stats: not on shard 0");
  return rt->stats(0);
}

std::uint64_t latency_total(const backend_stats& s, std::size_t kind) noexcept {
  std::uint64_t total = 0;
  for (std::uint64_t n : s.latency[kind]) total += n;
  return total;
}

bool runs_natively(std::size_t kind) noexcept { return runtime::current()->native(kind); }

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) < 0) return false;
  int have_major = 0, have_minor = 0;
  if (std::sscanf(u.release, "%d.%d", &have_major, &have_minor) != 2) return false;
  return have_major > major || (have_major == major && have_minor >= minor);
}

namespace {
constexpr unsigned ipc_lock_word = CAP_IPC_LOCK / 32, ipc_lock_bit = 1u << (CAP_IPC_LOCK % 32);
}  // namespace

bool holds_ipc_lock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) < 0) return false;
  return (data[ipc_lock_word].effective & ipc_lock_bit) != 0;
}

std::string drop_ipc_lock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) < 0) return std::string("capget: ") + std::strerror(errno);
  const unsigned word = ipc_lock_word, bit = ipc_lock_bit;
  data[word].effective &= ~bit;
  data[word].permitted &= ~bit;
  data[word].inheritable &= ~bit;
  if (::syscall(SYS_capset, &header, data) < 0) return std::string("capset: ") + std::strerror(errno);
  return {};
}

std::string limit_locked_memory(std::size_t bytes) {
  rlimit lim{bytes, bytes};
  if (::setrlimit(RLIMIT_MEMLOCK, &lim) < 0) return std::string("setrlimit(RLIMIT_MEMLOCK): ") + std::strerror(errno);
  return {};
}

}  // namespace couring::testing
