// Request kinds that move bytes between a descriptor and memory at an offset (or at the current
// position): read, write, their vectored and registered-buffer forms.
#pragma once

#include <couring/detail/emulation.hpp>
#include <couring/detail/request_list.hpp>

#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>

namespace couring {

namespace detail {
inline std::uint64_t iov_total(const iovec* iov, unsigned count) noexcept {
  std::uint64_t n = 0;
  for (unsigned i = 0; i < count; ++i) n += iov[i].iov_len;
  return n;
}
}  // namespace detail

struct read_req {
  int fd;
  void* buf;
  std::uint32_t len;
  std::int64_t offset;  // or current_position

  static constexpr request_facts facts{.name = "read", .uring = uring_op::read, .takes_ioprio = true,
                                       .device_pollable = true, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const read_req& r) noexcept {
    s.rw(uring_op::read, r.fd, r.buf, r.len, static_cast<std::uint64_t>(r.offset));  // -1: the current position
  }
  static emulation_plan emulate(const read_req& r) noexcept { return emulation::stream_io(r, r.fd, r.offset, POLLIN); }
  static int attempt(const read_req& r) noexcept {
    iovec v{r.buf, r.len};
    return emulation::nowait_readv(r.fd, &v, 1);
  }
  static int exec(const read_req& r) noexcept {
    return emulation::positional(
        r.fd, r.offset, [&] { return emulation::res_of(::pread(r.fd, r.buf, r.len, r.offset)); },
        [&] { return emulation::res_of(::read(r.fd, r.buf, r.len)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&read_req::fd); }
  static std::uint64_t chain_minimum(const read_req& r) noexcept { return r.len; }  // short breaks a chain
};

struct write_req {
  int fd;
  const void* buf;
  std::uint32_t len;
  std::int64_t offset;  // or current_position

  static constexpr request_facts facts{.name = "write", .uring = uring_op::write, .takes_ioprio = true,
                                       .device_pollable = true, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const write_req& r) noexcept {
    s.rw(uring_op::write, r.fd, r.buf, r.len, static_cast<std::uint64_t>(r.offset));
  }
  static emulation_plan emulate(const write_req& r) noexcept { return emulation::stream_io(r, r.fd, r.offset, POLLOUT); }
  static int attempt(const write_req& r) noexcept {
    iovec v{const_cast<void*>(r.buf), r.len};
    return emulation::nowait_writev(r.fd, &v, 1);
  }
  static int exec(const write_req& r) noexcept {
    return emulation::positional(
        r.fd, r.offset, [&] { return emulation::res_of(::pwrite(r.fd, r.buf, r.len, r.offset)); },
        [&] { return emulation::res_of(::write(r.fd, r.buf, r.len)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&write_req::fd); }
  static std::uint64_t chain_minimum(const write_req& r) noexcept { return r.len; }
};

struct readv_req {
  int fd;
  const iovec* iov;
  unsigned count;
  std::int64_t offset;

  static constexpr request_facts facts{.name = "readv", .uring = uring_op::readv, .takes_ioprio = true,
                                       .device_pollable = true, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const readv_req& r) noexcept {
    s.rw(uring_op::readv, r.fd, r.iov, r.count, static_cast<std::uint64_t>(r.offset));
  }
  static emulation_plan emulate(const readv_req& r) noexcept { return emulation::stream_io(r, r.fd, r.offset, POLLIN); }
  static int attempt(const readv_req& r) noexcept { return emulation::nowait_readv(r.fd, r.iov, r.count); }
  static int exec(const readv_req& r) noexcept {
    auto at = [&r](std::int64_t offset) {
      return [&r, offset] { return emulation::res_of(::preadv2(r.fd, r.iov, static_cast<int>(r.count), offset, 0)); };
    };
    return emulation::positional(r.fd, r.offset, at(r.offset), at(current_position));
  }
  static constexpr auto descriptors() noexcept { return fields(&readv_req::fd); }
  static std::uint64_t chain_minimum(const readv_req& r) noexcept { return detail::iov_total(r.iov, r.count); }
};

struct writev_req {
  int fd;
  const iovec* iov;
  unsigned count;
  std::int64_t offset;

  static constexpr request_facts facts{.name = "writev", .uring = uring_op::writev, .takes_ioprio = true,
                                       .device_pollable = true, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const writev_req& r) noexcept {
    s.rw(uring_op::writev, r.fd, r.iov, r.count, static_cast<std::uint64_t>(r.offset));
  }
  static emulation_plan emulate(const writev_req& r) noexcept { return emulation::stream_io(r, r.fd, r.offset, POLLOUT); }
  static int attempt(const writev_req& r) noexcept { return emulation::nowait_writev(r.fd, r.iov, r.count); }
  static int exec(const writev_req& r) noexcept {
    auto at = [&r](std::int64_t offset) {
      return [&r, offset] { return emulation::res_of(::pwritev2(r.fd, r.iov, static_cast<int>(r.count), offset, 0)); };
    };
    return emulation::positional(r.fd, r.offset, at(r.offset), at(current_position));
  }
  static constexpr auto descriptors() noexcept { return fields(&writev_req::fd); }
  static std::uint64_t chain_minimum(const writev_req& r) noexcept { return detail::iov_total(r.iov, r.count); }
};

// Through a buffer registered with the ring (fixed_buffers): no page pinning per op. Without a
// ring the registration means nothing and the buffer is an ordinary one.
struct read_fixed_req {
  int fd;
  void* buf;
  std::uint32_t len;
  std::int64_t offset;
  std::uint16_t buf_index;

  static constexpr request_facts facts{.name = "read_fixed", .uring = uring_op::read_fixed, .takes_ioprio = true,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const read_fixed_req& r) noexcept {
    s.rw(uring_op::read_fixed, r.fd, r.buf, r.len, static_cast<std::uint64_t>(r.offset));
    s.buf_index(r.buf_index);
  }
  static emulation_plan emulate(const read_fixed_req&) noexcept { return emulation::on_worker(); }
  static int exec(const read_fixed_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::pread(r.fd, r.buf, r.len, r.offset)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&read_fixed_req::fd); }
  static std::uint64_t chain_minimum(const read_fixed_req& r) noexcept { return r.len; }
};

struct write_fixed_req {
  int fd;
  const void* buf;
  std::uint32_t len;
  std::int64_t offset;
  std::uint16_t buf_index;

  static constexpr request_facts facts{.name = "write_fixed", .uring = uring_op::write_fixed, .takes_ioprio = true,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const write_fixed_req& r) noexcept {
    s.rw(uring_op::write_fixed, r.fd, r.buf, r.len, static_cast<std::uint64_t>(r.offset));
    s.buf_index(r.buf_index);
  }
  static emulation_plan emulate(const write_fixed_req&) noexcept { return emulation::on_worker(); }
  static int exec(const write_fixed_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::pwrite(r.fd, r.buf, r.len, r.offset)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&write_fixed_req::fd); }
  static std::uint64_t chain_minimum(const write_fixed_req& r) noexcept { return r.len; }
};

using transfer_requests = request_list<read_req, write_req, readv_req, writev_req, read_fixed_req, write_fixed_req>;

}  // namespace couring
