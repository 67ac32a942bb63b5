// The vocabulary of a request description. Every request kind (<couring/requests/...>) states
// once, next to its fields, everything the library knows about it:
//
//   static constexpr request_facts facts    its name, the kernel opcode (and the one the probe
//                                           checks), and yes/no facts: I/O priority, device
//                                           polling, interruptible on a worker, readiness,
//                                           multishot, installs a descriptor
//   prep(sqe, r)                            how io_uring prepares it (only if it has an opcode)
//   emulate(r)                              the emulation's route: immediate, readiness, worker
//                                           or timer (may make a first non-blocking attempt)
//   attempt(r)                              the non-blocking call after readiness (only if it
//                                           waits for readiness)
//   exec(r)                                 the blocking call a worker makes, reported like
//                                           aio_return: >= 0, or -errno
//   descriptors()                           its descriptor fields (a registered slot is
//                                           translated in each of them)
//   chain_minimum(r)                        the smallest result that lets a chain go on
//
// `described_request` (request.hpp) checks every kind of the request variant for every piece,
// so a kind that lacks one does not build. Not API: the library reads these; programs use verbs.
#pragma once

#include <cstdint>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace couring {

// io_uring opcodes, as the kernel numbers them (the ABI; io/uring checks them against liburing,
// whose Debian 12 headers stop at 6.1's). Whether the running kernel has one is the probe's call.
namespace uring_op {
inline constexpr int none = -1;  // io_uring has no such operation: the kind always runs on the emulation
inline constexpr int nop = 0;
inline constexpr int readv = 1;
inline constexpr int writev = 2;
inline constexpr int fsync = 3;
inline constexpr int read_fixed = 4;
inline constexpr int write_fixed = 5;
inline constexpr int poll_add = 6;
inline constexpr int timeout = 11;
inline constexpr int accept = 13;
inline constexpr int connect = 16;
inline constexpr int fallocate = 17;
inline constexpr int openat = 18;
inline constexpr int close = 19;
inline constexpr int statx = 21;
inline constexpr int read = 22;
inline constexpr int write = 23;
inline constexpr int fadvise = 24;
inline constexpr int send = 26;
inline constexpr int recv = 27;
inline constexpr int splice = 30;
inline constexpr int tee = 33;
inline constexpr int shutdown = 34;
inline constexpr int renameat = 35;
inline constexpr int unlinkat = 36;
inline constexpr int mkdirat = 37;
inline constexpr int socket = 45;
inline constexpr int send_zc = 47;
inline constexpr int ftruncate = 55;  // Linux 6.9
}  // namespace uring_op

// SQE flag values the descriptions use (the kernel ABI, checked against liburing in io/uring).
namespace uring_flag {
inline constexpr std::uint32_t fsync_datasync = 1u << 0;    // fsync_flags
inline constexpr std::uint32_t timeout_absolute = 1u << 0;  // timeout_flags
inline constexpr std::uint16_t accept_multishot = 1u << 0;  // in the ioprio field
inline constexpr std::uint16_t recv_multishot = 1u << 1;    // in the ioprio field
}  // namespace uring_flag

// The SQE opcode of a kind, and the opcode whose presence in the kernel's probe says the kind
// works. They differ where a feature is a flag on an old opcode, invisible to the probe
// (multishot accept arrived with SOCKET in 5.19, multishot recv with SEND_ZC in 6.0).
struct kernel_op {
  int opcode;
  int probe;
  constexpr kernel_op(int op) noexcept : opcode(op), probe(op) {}  // NOLINT: the common case
  constexpr kernel_op(int op, int probed) noexcept : opcode(op), probe(probed) {}
  constexpr bool expressible() const noexcept { return opcode != uring_op::none; }
};

// A fact every description must state: no default, so leaving one out of `facts` fails to build.
template <class T>
struct stated {
  template <class U>
    requires std::is_constructible_v<T, U>
  constexpr stated(U&& v) noexcept : value(std::forward<U>(v)) {}  // NOLINT: reads like a plain field
  constexpr operator T() const noexcept { return value; }          // NOLINT
  T value;
};

struct request_facts {
  stated<std::string_view> name;    // stable short name: statistics, logs, configuration
  stated<kernel_op> uring;          // its io_uring opcode (uring_op::none: it has none)
  stated<bool> takes_ioprio;        // the op's I/O priority applies (reads and writes)
  stated<bool> device_pollable;     // an IOPOLL ring may complete it (O_DIRECT reads and writes)
  stated<bool> interruptible;       // a cancel interrupts it while a worker is in its syscall
  stated<bool> waits_for_readiness; // the emulation may wait for its fd, then call attempt()
  stated<bool> multishot;           // one submission, many results (the op is a multishot_op)
  stated<bool> installs_descriptor; // its result is a new descriptor a file_table may adopt
};

// The emulation's route for one request, decided when it is submitted.
struct emulation_plan {
  enum class route : std::uint8_t {
    immediate,  // the result is known now (res)
    readiness,  // wait until `fd` reports `events`, then attempt() (again)
    worker,     // exec() on a worker thread
    timer,      // complete at `when_ns` (CLOCK_MONOTONIC) from the loop's timers
  };
  route how;
  int res = 0;
  int fd = -1;
  std::uint32_t events = 0;  // POLLIN, POLLOUT... (the same bits as EPOLLIN, EPOLLOUT...)
  std::int64_t when_ns = 0;
};

namespace emulation {
constexpr emulation_plan done(int res) noexcept { return {emulation_plan::route::immediate, res}; }
constexpr emulation_plan on_worker() noexcept { return {emulation_plan::route::worker}; }
constexpr emulation_plan when_ready(int fd, std::uint32_t events) noexcept {
  return {emulation_plan::route::readiness, 0, fd, events};
}
constexpr emulation_plan at_time(std::int64_t when_ns) noexcept {
  return {emulation_plan::route::timer, 0, -1, 0, when_ns};
}
}  // namespace emulation

// A description's descriptor fields, e.g. `fields(&splice_req::fd_in, &splice_req::fd_out)`.
template <class R, class... M>
constexpr auto fields(int R::*first, M... rest) noexcept {
  return std::tuple{first, rest...};
}
constexpr std::tuple<> no_fields() noexcept { return {}; }

}  // namespace couring
