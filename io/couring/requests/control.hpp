// Request kinds that are about the loop rather than one file: nothing, time, readiness, and user
// code run on a worker.
#pragma once

#include <couring/detail/emulation.hpp>
#include <couring/detail/request_list.hpp>

#include <poll.h>
#include <time.h>

#include <cstdint>

namespace couring {

// Same layout as the kernel's __kernel_timespec (static_assert in io/uring): the SQE points at it.
struct kernel_timespec {
  std::int64_t tv_sec;
  long long tv_nsec;
};

struct nop_req {
  static constexpr request_facts facts{.name = "nop", .uring = uring_op::nop, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const nop_req&) noexcept {
    s.rw(uring_op::nop, -1, nullptr, 0, 0);
  }
  static emulation_plan emulate(const nop_req&) noexcept { return emulation::done(0); }
  static int exec(const nop_req&) noexcept { return 0; }
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const nop_req&) noexcept { return 0; }
};

// Completes with -ETIME when the absolute CLOCK_MONOTONIC time `when` passes.
struct timeout_req {
  kernel_timespec when;

  static constexpr request_facts facts{.name = "timeout", .uring = uring_op::timeout, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const timeout_req& r) noexcept {
    // The kernel reads the timespec when the SQE is submitted; it lives in the op.
    s.rw(uring_op::timeout, -1, &r.when, 1, 0);
    s.op_flags(uring_flag::timeout_absolute);
  }
  static emulation_plan emulate(const timeout_req& r) noexcept { return emulation::at_time(wake_ns(r)); }
  static int exec(const timeout_req& r) noexcept {
    timespec when{static_cast<time_t>(r.when.tv_sec), static_cast<long>(r.when.tv_nsec)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, nullptr) == EINTR) {
      if (emulation::cancel_requested_on_this_worker()) return -EINTR;
    }
    return -ETIME;
  }
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const timeout_req&) noexcept { return 0; }

  // The wake-up time in ns, saturating (a time too far to count never comes).
  static std::int64_t wake_ns(const timeout_req& r) noexcept {
    if (r.when.tv_sec >= INT64_MAX / 1'000'000'000) return INT64_MAX;
    return r.when.tv_sec * 1'000'000'000 + r.when.tv_nsec;
  }
};

// One-shot readiness: completes with the ready events (POLLIN, POLLOUT, POLLRDHUP, POLLERR...).
struct poll_req {
  int fd;
  unsigned events;

  // io_uring's POLL_ADD always reports POLLERR, POLLHUP, POLLNVAL and POLLRDHUP when they hold,
  // asked or not; poll(2) reports POLLRDHUP only when asked. Asking for it gives the same answer.
  static constexpr unsigned always_reported = POLLRDHUP;

  static constexpr request_facts facts{.name = "poll", .uring = uring_op::poll_add, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const poll_req& r) noexcept {
    s.rw(uring_op::poll_add, r.fd, nullptr, 0, 0);
    s.op_flags(r.events);
  }
  static emulation_plan emulate(const poll_req& r) noexcept {
    return emulation::attempt_or_wait(r, r.fd, r.events | always_reported);
  }
  static int attempt(const poll_req& r) noexcept { return poll_once(r, 0); }
  static int exec(const poll_req& r) noexcept {
    return emulation::restarting([&] { return poll_once(r, -1); });
  }
  static constexpr auto descriptors() noexcept { return fields(&poll_req::fd); }
  static std::uint64_t chain_minimum(const poll_req&) noexcept { return 0; }

  static int poll_once(const poll_req& r, int timeout_ms) noexcept {
    pollfd f{r.fd, static_cast<short>(r.events | always_reported), 0};
    int n = ::poll(&f, 1, timeout_ms);
    if (n < 0) return -errno;
    if (n == 0) return -EAGAIN;
    if (f.revents & POLLNVAL) return -EBADF;  // io_uring reports an invalid fd the same way
    return static_cast<unsigned short>(f.revents);
  }
};

// Runs invoke(context) on a worker: offload() of a blocking or CPU-heavy callable.
struct call_req {
  void (*invoke)(void*) noexcept;
  void* context;

  static constexpr request_facts facts{.name = "offload", .uring = uring_op::none, .takes_ioprio = false,
                                       .device_pollable = false,
                                       .interruptible = false,  // user code runs to its end (AIO_NOTCANCELED)
                                       .waits_for_readiness = false, .multishot = false, .installs_descriptor = false};
  static emulation_plan emulate(const call_req&) noexcept { return emulation::on_worker(); }
  static int exec(const call_req& r) noexcept {
    r.invoke(r.context);
    return 0;
  }
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const call_req&) noexcept { return 0; }
};

using control_requests = request_list<nop_req, timeout_req, poll_req, call_req>;

}  // namespace couring
