// Request kinds on files and directories by path or descriptor: open, close, metadata, sync,
// space, access advice, names, and whole-file locks.
#pragma once

#include <couring/detail/emulation.hpp>
#include <couring/detail/request_list.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>  // renameat2

namespace couring {

struct openat_req {
  int dirfd;
  const char* path;
  int flags;
  mode_t mode;

  static constexpr request_facts facts{.name = "openat", .uring = uring_op::openat, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true,  // a FIFO's open waits
                                       .waits_for_readiness = false, .multishot = false, .installs_descriptor = true};
  template <class Sqe>
  static void prep(Sqe& s, const openat_req& r) noexcept {
    s.rw(uring_op::openat, r.dirfd, r.path, r.mode, 0);
    // A direct descriptor never enters the fd table, and the kernel refuses (EINVAL) an install
    // that asks for close-on-exec; the request carries it for when the op is not direct.
    s.op_flags(static_cast<std::uint32_t>(s.installs() ? r.flags & ~O_CLOEXEC : r.flags));
  }
  static emulation_plan emulate(const openat_req&) noexcept { return emulation::on_worker(); }
  static int exec(const openat_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::openat(r.dirfd, r.path, r.flags, r.mode)); });
  }
  // The directory descriptor is never a registered slot: io_uring's openat takes no fixed dirfd.
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const openat_req&) noexcept { return 0; }
};

struct close_req {
  int fd;

  static constexpr request_facts facts{.name = "close", .uring = uring_op::close, .takes_ioprio = false,
                                       .device_pollable = false,
                                       .interruptible = false,  // the descriptor is gone whatever close says
                                       .waits_for_readiness = false, .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const close_req& r) noexcept {
    s.rw(uring_op::close, r.fd, nullptr, 0, 0);
  }
  static emulation_plan emulate(const close_req&) noexcept { return emulation::on_worker(); }
  // Never retried: on Linux the descriptor is released even when close reports EINTR.
  static int exec(const close_req& r) noexcept { return emulation::res_of(::close(r.fd)); }
  // Closing a registered slot is file_table::remove(), never an op on the slot.
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const close_req&) noexcept { return 0; }
};

struct statx_req {
  int dirfd;
  const char* path;
  int flags;
  unsigned mask;
  struct statx* out;

  static constexpr request_facts facts{.name = "statx", .uring = uring_op::statx, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const statx_req& r) noexcept {
    s.rw(uring_op::statx, r.dirfd, r.path, r.mask, reinterpret_cast<std::uintptr_t>(r.out));
    s.op_flags(static_cast<std::uint32_t>(r.flags));
  }
  static emulation_plan emulate(const statx_req&) noexcept { return emulation::on_worker(); }
  static int exec(const statx_req& r) noexcept {
    return emulation::res_of(::statx(r.dirfd, r.path, r.flags, r.mask, r.out));
  }
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const statx_req&) noexcept { return 0; }
};

struct fsync_req {
  int fd;
  bool datasync;

  static constexpr request_facts facts{.name = "fsync", .uring = uring_op::fsync, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const fsync_req& r) noexcept {
    s.rw(uring_op::fsync, r.fd, nullptr, 0, 0);
    s.op_flags(r.datasync ? uring_flag::fsync_datasync : 0);
  }
  static emulation_plan emulate(const fsync_req&) noexcept { return emulation::on_worker(); }
  static int exec(const fsync_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(r.datasync ? ::fdatasync(r.fd) : ::fsync(r.fd)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&fsync_req::fd); }
  static std::uint64_t chain_minimum(const fsync_req&) noexcept { return 0; }
};

struct fallocate_req {
  int fd;
  int mode;
  std::int64_t offset;
  std::int64_t len;

  static constexpr request_facts facts{.name = "fallocate", .uring = uring_op::fallocate, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const fallocate_req& r) noexcept {
    // The kernel reads the length from the address field and the mode from the length field.
    s.rw(uring_op::fallocate, r.fd, static_cast<std::uint64_t>(r.len), static_cast<std::uint32_t>(r.mode),
         static_cast<std::uint64_t>(r.offset));
  }
  static emulation_plan emulate(const fallocate_req&) noexcept { return emulation::on_worker(); }
  static int exec(const fallocate_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::fallocate(r.fd, r.mode, r.offset, r.len)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&fallocate_req::fd); }
  static std::uint64_t chain_minimum(const fallocate_req&) noexcept { return 0; }
};

// Advice on how a range will be used (readahead, dropping cached pages): a hint, never a change
// to the data. posix_fadvise returns its error instead of setting errno.
struct fadvise_req {
  int fd;
  std::int64_t offset;
  std::int64_t len;  // 0: to the end of the file
  int advice;

  static constexpr request_facts facts{.name = "fadvise", .uring = uring_op::fadvise, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = false, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const fadvise_req& r) noexcept {
    // The 32-bit length field where the length fits; beyond, the 64-bit one kernels read since
    // 6.7 (older ones see length 0 and advise to the end of the file: still only a hint).
    const auto len = static_cast<std::uint64_t>(r.len);
    const bool fits = len <= UINT32_MAX;
    s.rw(uring_op::fadvise, r.fd, fits ? 0 : len, fits ? static_cast<std::uint32_t>(len) : 0,
         static_cast<std::uint64_t>(r.offset));
    s.op_flags(static_cast<std::uint32_t>(r.advice));
  }
  static emulation_plan emulate(const fadvise_req&) noexcept { return emulation::on_worker(); }
  static int exec(const fadvise_req& r) noexcept { return -::posix_fadvise(r.fd, r.offset, r.len, r.advice); }
  static constexpr auto descriptors() noexcept { return fields(&fadvise_req::fd); }
  static std::uint64_t chain_minimum(const fadvise_req&) noexcept { return 0; }
};

struct ftruncate_req {
  int fd;
  std::int64_t length;

  static constexpr request_facts facts{.name = "ftruncate", .uring = uring_op::ftruncate, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const ftruncate_req& r) noexcept {
    s.rw(uring_op::ftruncate, r.fd, nullptr, 0, static_cast<std::uint64_t>(r.length));  // the length in the offset field
  }
  static emulation_plan emulate(const ftruncate_req&) noexcept { return emulation::on_worker(); }
  static int exec(const ftruncate_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::ftruncate(r.fd, r.length)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&ftruncate_req::fd); }
  static std::uint64_t chain_minimum(const ftruncate_req&) noexcept { return 0; }
};

struct unlinkat_req {
  int dirfd;
  const char* path;
  int flags;

  static constexpr request_facts facts{.name = "unlinkat", .uring = uring_op::unlinkat, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const unlinkat_req& r) noexcept {
    s.rw(uring_op::unlinkat, r.dirfd, r.path, 0, 0);
    s.op_flags(static_cast<std::uint32_t>(r.flags));
  }
  static emulation_plan emulate(const unlinkat_req&) noexcept { return emulation::on_worker(); }
  static int exec(const unlinkat_req& r) noexcept { return emulation::res_of(::unlinkat(r.dirfd, r.path, r.flags)); }
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const unlinkat_req&) noexcept { return 0; }
};

struct renameat_req {
  int old_dirfd;
  const char* old_path;
  int new_dirfd;
  const char* new_path;
  unsigned flags;

  static constexpr request_facts facts{.name = "renameat", .uring = uring_op::renameat, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const renameat_req& r) noexcept {
    s.rw(uring_op::renameat, r.old_dirfd, r.old_path, static_cast<std::uint32_t>(r.new_dirfd),
         reinterpret_cast<std::uintptr_t>(r.new_path));
    s.op_flags(r.flags);
  }
  static emulation_plan emulate(const renameat_req&) noexcept { return emulation::on_worker(); }
  static int exec(const renameat_req& r) noexcept {
    return emulation::res_of(::renameat2(r.old_dirfd, r.old_path, r.new_dirfd, r.new_path, r.flags));
  }
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const renameat_req&) noexcept { return 0; }
};

struct mkdirat_req {
  int dirfd;
  const char* path;
  mode_t mode;

  static constexpr request_facts facts{.name = "mkdirat", .uring = uring_op::mkdirat, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const mkdirat_req& r) noexcept {
    s.rw(uring_op::mkdirat, r.dirfd, r.path, r.mode, 0);
  }
  static emulation_plan emulate(const mkdirat_req&) noexcept { return emulation::on_worker(); }
  static int exec(const mkdirat_req& r) noexcept { return emulation::res_of(::mkdirat(r.dirfd, r.path, r.mode)); }
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const mkdirat_req&) noexcept { return 0; }
};

// flock(2) without LOCK_NB: waits for the lock. No io_uring opcode exists, so it always runs on
// a worker, and a cancel interrupts it there.
struct flock_req {
  int fd;
  int operation;

  static constexpr request_facts facts{.name = "flock", .uring = uring_op::none, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  static emulation_plan emulate(const flock_req&) noexcept { return emulation::on_worker(); }
  static int exec(const flock_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::flock(r.fd, r.operation)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&flock_req::fd); }
  static std::uint64_t chain_minimum(const flock_req&) noexcept { return 0; }
};

using file_requests = request_list<openat_req, close_req, statx_req, fsync_req, fallocate_req, fadvise_req,
                                   ftruncate_req, unlinkat_req, renameat_req, mkdirat_req, flock_req>;

}  // namespace couring
