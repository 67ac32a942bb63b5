// Helpers of the uring suite (issue 9): sizes that shrink under sanitizers, byte patterns that
// reveal misplaced or stale bytes, loopback connections, statistics deltas, and the privilege
// changes the registration-failure tests make in forked children.
#pragma once

#include "support.hpp"

#include <couring/couring.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace couring::testing {

// ASan and TSan make every byte touched in user space several times dearer; the suite's large
// transfers (100 MiB, 1 GiB) then shrink so that the sanitizer passes of CI still fit on two cores.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool under_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool under_sanitizer = true;
#else
inline constexpr bool under_sanitizer = false;
#endif
#else
inline constexpr bool under_sanitizer = false;
#endif

// `full` bytes (or items), or an eighth of it under a sanitizer.
constexpr std::size_t scaled(std::size_t full) noexcept { return under_sanitizer ? full / 8 : full; }

// The byte at `offset` of stream number `seed`: every stream (every iteration of a test) differs,
// so bytes left over from an earlier one, or poison written after a send, are caught.
inline std::uint8_t stream_byte(std::uint64_t seed, std::uint64_t offset) noexcept {
  return pattern_byte(offset + seed * 7919u) ^ static_cast<std::uint8_t>(seed * 37u);
}
void fill_stream(std::byte* out, std::size_t n, std::uint64_t seed, std::uint64_t offset) noexcept;
// The index of the first byte that differs from stream `seed` at `offset`, or n when all match.
std::size_t first_stream_mismatch(const std::byte* data, std::size_t n, std::uint64_t seed, std::uint64_t offset) noexcept;

// A listener on a free loopback port, and the address that reaches it. Fails the running test
// case if the machine cannot give one.
struct loopback_listener {
  tcp_listener listener;
  endpoint at;
};
loopback_listener listen_on_loopback();

// Both ends of a fresh loopback TCP connection (the listener is closed again).
struct loopback_connection {
  tcp_stream near;  // the connecting end
  tcp_stream far;   // the accepted end
};
task<result<loopback_connection>> loopback_tcp();

// What the current shard's backend has counted so far (call on a runtime thread).
backend_stats shard_stats();
std::uint64_t latency_total(const backend_stats& s, std::size_t kind) noexcept;
// Whether the current shard's backend hands this request kind to the kernel as such.
bool runs_natively(std::size_t kind) noexcept;
// The kernel's release is at least major.minor (uname).
bool kernel_at_least(int major, int minor);

// For forked children only, before their runtime exists. Drops CAP_IPC_LOCK from the effective
// and permitted sets: a ring created by a process holding it is never charged for locked memory,
// which is why a test run as root must drop it for RLIMIT_MEMLOCK to bite. "" or why it failed.
std::string drop_ipc_lock();
// Whether this process holds CAP_IPC_LOCK (effective): then its rings are never charged.
bool holds_ipc_lock();
// Sets both RLIMIT_MEMLOCK limits to `bytes`. "" or why it failed.
std::string limit_locked_memory(std::size_t bytes);

}  // namespace couring::testing
