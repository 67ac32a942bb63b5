#include "exec.hpp"

#include <couring/op.hpp>

#include <fcntl.h>  // splice, tee
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>  // renameat2

namespace couring::pool {
namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

// -errno for a failed call, the value otherwise: the convention every backend reports in.
template <class T>
int res_of(T r) noexcept {
  return r < 0 ? -errno : static_cast<int>(r);
}

// The cancellation check of the op this worker thread is running (set by exec_blocking).
thread_local interrupt_check running_check;

// Retries a call interrupted by a signal, unless the signal meant "this op was cancelled".
template <class F>
int restarting(F&& call) noexcept {
  for (;;) {
    int r = call();
    if (r != -EINTR || running_check.requested()) return r;
  }
}

bool file_blocks_instead_of_polling(int fd, int& error) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) < 0) {
    error = -errno;
    return false;
  }
  error = 0;
  return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode);
}

// accept4 on a blocking listener would block if another waiter took the connection first, so it
// runs only when poll() says a connection is queued right now.
int try_accept(const accept_req& a) noexcept {
  pollfd p{a.fd, POLLIN, 0};
  int n = ::poll(&p, 1, 0);
  if (n < 0) return -errno;
  if (n == 0) return -EAGAIN;
  int r = res_of(::accept4(a.fd, a.addr, a.addrlen, a.flags));
  return r == -EWOULDBLOCK ? -EAGAIN : r;
}

// io_uring's POLL_ADD always reports POLLERR, POLLHUP, POLLNVAL and POLLRDHUP when they hold,
// asked or not; poll(2) reports POLLRDHUP only when asked. Asking for it gives the same answer.
constexpr short poll_always = POLLRDHUP;

int try_poll(const poll_req& p) noexcept {
  pollfd f{p.fd, static_cast<short>(p.events | poll_always), 0};
  int n = ::poll(&f, 1, 0);
  if (n < 0) return -errno;
  if (n == 0) return -EAGAIN;
  if (f.revents & POLLNVAL) return -EBADF;  // io_uring reports an invalid fd the same way
  return static_cast<unsigned short>(f.revents);
}

// Starts a connect without blocking the loop. The socket is switched to O_NONBLOCK only for the
// call itself: the handshake continues in the kernel and is awaited by readiness (POLLOUT).
int start_connect(const connect_req& c) noexcept {
  int flags = ::fcntl(c.fd, F_GETFL);
  if (flags < 0) return -errno;
  if (!(flags & O_NONBLOCK) && ::fcntl(c.fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  int r = res_of(::connect(c.fd, c.addr, c.addrlen));
  if (!(flags & O_NONBLOCK)) ::fcntl(c.fd, F_SETFL, flags);
  return r;
}

int finish_connect(const connect_req& c) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
  if (err == EINPROGRESS || err == EALREADY) return -EAGAIN;
  return -err;
}

int nowait_read(int fd, void* buf, std::size_t len) noexcept {
  iovec v{buf, len};
  return res_of(::preadv2(fd, &v, 1, -1, RWF_NOWAIT));
}
int nowait_write(int fd, const void* buf, std::size_t len) noexcept {
  iovec v{const_cast<void*>(buf), len};
  return res_of(::pwritev2(fd, &v, 1, -1, RWF_NOWAIT));
}

// The non-blocking attempt for every request that can take the readiness route; -EAGAIN when it
// would block. Requests that never take that route answer -EOPNOTSUPP (unused).
int try_once(const request& r) noexcept {
  return std::visit(
      overloaded{
          [](const read_req& a) { return nowait_read(a.fd, a.buf, a.len); },
          [](const write_req& a) { return nowait_write(a.fd, a.buf, a.len); },
          [](const readv_req& a) { return res_of(::preadv2(a.fd, a.iov, static_cast<int>(a.count), -1, RWF_NOWAIT)); },
          [](const writev_req& a) { return res_of(::pwritev2(a.fd, a.iov, static_cast<int>(a.count), -1, RWF_NOWAIT)); },
          [](const recv_req& a) { return res_of(::recv(a.fd, a.buf, a.len, a.flags | MSG_DONTWAIT)); },
          [](const send_req& a) { return res_of(::send(a.fd, a.buf, a.len, a.flags | MSG_DONTWAIT | MSG_NOSIGNAL)); },
          [](const send_zc_req& a) { return res_of(::send(a.fd, a.buf, a.len, a.flags | MSG_DONTWAIT | MSG_NOSIGNAL)); },
          [](const accept_req& a) { return try_accept(a); },
          [](const connect_req& a) { return finish_connect(a); },
          [](const poll_req& a) { return try_poll(a); },
          [](const auto&) { return -EOPNOTSUPP; },
      },
      r);
}

int normalise_again(int r) noexcept { return r == -EWOULDBLOCK ? -EAGAIN : r; }

plan readiness_or_done(int first_try, int fd, std::uint32_t events) noexcept {
  first_try = normalise_again(first_try);
  if (first_try == -EAGAIN) return {route::readiness, 0, fd, events};
  return {route::immediate, first_try};
}

// read/write at the current position: pollable fds go through readiness, files to a worker.
plan plan_stream_io(const request& r, int fd, bool at_current_position, std::uint32_t events) noexcept {
  if (!at_current_position) return {route::worker};
  int error = 0;
  if (file_blocks_instead_of_polling(fd, error)) return {route::worker};
  if (error) return {route::immediate, error};
  int first = normalise_again(try_once(r));
  // Kernels before pipes learnt RWF_NOWAIT answer EOPNOTSUPP: such fds block on a worker.
  if (first == -EOPNOTSUPP) return {route::worker};
  return readiness_or_done(first, fd, events);
}

// pread and pwrite need a seekable file. io_uring instead hands the position to the file's own
// read or write, and stream files decide: pipes, eventfds and ttys ignore it, sockets accept only
// 0 (ESPIPE otherwise). Same answers here: on ESPIPE, like glibc's AIO, the call is made at the
// current position, unless the file is a socket and the position not 0.
template <class AtOffset, class AtCurrent>
int positional(int fd, std::int64_t offset, AtOffset&& at_offset, AtCurrent&& at_current) noexcept {
  int r = restarting(at_offset);
  if (r != -ESPIPE) return r;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && offset != 0) return r;
  return restarting(at_current);
}

}  // namespace

int use_real_descriptor(op_base& op) noexcept {
  if (!op.files) return 0;
  const fixed_files& table = *op.files;
  int res = 0;
  std::visit(
      [&](auto& r) {
        if constexpr (requires { r.fd; }) {
          int slot = r.fd;
          if (slot < 0 || static_cast<std::size_t>(slot) >= table.fds.size() || table.fds[slot] < 0) {
            res = -EBADF;  // an empty slot, or one only the kernel holds (a direct accept/openat)
            return;
          }
          // The op's own reference: file_table::remove() may close the slot's while it runs.
          int own = ::fcntl(table.fds[slot], F_DUPFD_CLOEXEC, 0);
          if (own < 0) {
            res = -errno;
            return;
          }
          op.slot_reference.reset(own);
          r.fd = own;
        }
      },
      op.req);
  op.files = nullptr;
  return res;
}

plan plan_for(const request& r) noexcept {
  return std::visit(
      overloaded{
          [](const nop_req&) { return plan{route::immediate, 0}; },
          [](const socket_req& a) { return plan{route::immediate, res_of(::socket(a.domain, a.type, a.protocol))}; },
          [](const shutdown_req& a) { return plan{route::immediate, res_of(::shutdown(a.fd, a.how))}; },
          [](const timeout_req&) { return plan{route::timer}; },
          [&r](const read_req& a) { return plan_stream_io(r, a.fd, a.offset == current_position, POLLIN); },
          [&r](const readv_req& a) { return plan_stream_io(r, a.fd, a.offset == current_position, POLLIN); },
          [&r](const write_req& a) { return plan_stream_io(r, a.fd, a.offset == current_position, POLLOUT); },
          [&r](const writev_req& a) { return plan_stream_io(r, a.fd, a.offset == current_position, POLLOUT); },
          [&r](const recv_req& a) {
            // MSG_WAITALL asks for the whole buffer; only a blocking call gives that.
            if (a.flags & MSG_WAITALL) return plan{route::worker};
            return readiness_or_done(try_once(r), a.fd, POLLIN);
          },
          [&r](const send_req& a) { return readiness_or_done(try_once(r), a.fd, POLLOUT); },
          // Copying is the zero-copy send's fallback: it completes when the buffer is reusable too.
          [&r](const send_zc_req& a) { return readiness_or_done(try_once(r), a.fd, POLLOUT); },
          // The streams loop over accept and recv where multishot is not native; never routed here.
          [](const accept_multishot_req&) { return plan{route::immediate, -EOPNOTSUPP}; },
          [](const recv_multishot_req&) { return plan{route::immediate, -EOPNOTSUPP}; },
          [&r](const accept_req& a) { return readiness_or_done(try_once(r), a.fd, POLLIN); },
          [&r](const poll_req& a) { return readiness_or_done(try_once(r), a.fd, a.events | poll_always); },
          [](const connect_req& a) {
            int started = start_connect(a);
            if (started == -EINPROGRESS) return plan{route::readiness, 0, a.fd, POLLOUT};
            // A full AF_UNIX backlog answers EAGAIN to a non-blocking connect; a blocking one waits.
            if (started == -EAGAIN) return plan{route::worker};
            return plan{route::immediate, started};
          },
          [](const auto&) { return plan{route::worker}; },
      },
      r);
}

int retry_when_ready(const request& r, std::uint32_t revents) noexcept {
  (void)revents;
  return normalise_again(try_once(r));
}

bool interruptible(const request& r) noexcept {
  return !std::holds_alternative<call_req>(r) && !std::holds_alternative<close_req>(r);
}

int exec_blocking(const request& r, interrupt_check check) noexcept {
  running_check = check;
  return std::visit(
      overloaded{
          [](const nop_req&) { return 0; },
          [](const read_req& a) {
            auto at_current = [&] { return res_of(::read(a.fd, a.buf, a.len)); };
            if (a.offset == current_position) return restarting(at_current);
            return positional(a.fd, a.offset, [&] { return res_of(::pread(a.fd, a.buf, a.len, a.offset)); }, at_current);
          },
          [](const write_req& a) {
            auto at_current = [&] { return res_of(::write(a.fd, a.buf, a.len)); };
            if (a.offset == current_position) return restarting(at_current);
            return positional(a.fd, a.offset, [&] { return res_of(::pwrite(a.fd, a.buf, a.len, a.offset)); }, at_current);
          },
          [](const readv_req& a) {
            auto at = [&](std::int64_t offset) {
              return [&a, offset] { return res_of(::preadv2(a.fd, a.iov, static_cast<int>(a.count), offset, 0)); };
            };
            if (a.offset == current_position) return restarting(at(current_position));
            return positional(a.fd, a.offset, at(a.offset), at(current_position));
          },
          [](const writev_req& a) {
            auto at = [&](std::int64_t offset) {
              return [&a, offset] { return res_of(::pwritev2(a.fd, a.iov, static_cast<int>(a.count), offset, 0)); };
            };
            if (a.offset == current_position) return restarting(at(current_position));
            return positional(a.fd, a.offset, at(a.offset), at(current_position));
          },
          [](const openat_req& a) {
            return restarting([&] { return res_of(::openat(a.dirfd, a.path, a.flags, a.mode)); });
          },
          // Never retried: on Linux the descriptor is released even when close reports EINTR.
          [](const close_req& a) { return res_of(::close(a.fd)); },
          [](const statx_req& a) { return res_of(::statx(a.dirfd, a.path, a.flags, a.mask, a.out)); },
          [](const fsync_req& a) {
            return restarting([&] { return res_of(a.datasync ? ::fdatasync(a.fd) : ::fsync(a.fd)); });
          },
          [](const fallocate_req& a) {
            return restarting([&] { return res_of(::fallocate(a.fd, a.mode, a.offset, a.len)); });
          },
          [](const ftruncate_req& a) { return restarting([&] { return res_of(::ftruncate(a.fd, a.length)); }); },
          [](const unlinkat_req& a) { return res_of(::unlinkat(a.dirfd, a.path, a.flags)); },
          [](const renameat_req& a) {
            return res_of(::renameat2(a.old_dirfd, a.old_path, a.new_dirfd, a.new_path, a.flags));
          },
          [](const mkdirat_req& a) { return res_of(::mkdirat(a.dirfd, a.path, a.mode)); },
          [](const timeout_req& a) {
            timespec when{static_cast<time_t>(a.when.tv_sec), static_cast<long>(a.when.tv_nsec)};
            while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, nullptr) == EINTR) {
              if (running_check.requested()) return -EINTR;
            }
            return -ETIME;
          },
          [](const socket_req& a) { return res_of(::socket(a.domain, a.type, a.protocol)); },
          [](const accept_req& a) {
            return restarting([&] { return res_of(::accept4(a.fd, a.addr, a.addrlen, a.flags)); });
          },
          // Not restarted: after EINTR the connection goes on in the kernel and connect() again
          // would say EALREADY. Only a cancel interrupts a worker, so EINTR means cancelled.
          [](const connect_req& a) { return res_of(::connect(a.fd, a.addr, a.addrlen)); },
          [](const recv_req& a) { return restarting([&] { return res_of(::recv(a.fd, a.buf, a.len, a.flags)); }); },
          [](const send_req& a) {
            return restarting([&] { return res_of(::send(a.fd, a.buf, a.len, a.flags | MSG_NOSIGNAL)); });
          },
          [](const shutdown_req& a) { return res_of(::shutdown(a.fd, a.how)); },
          [](const send_zc_req& a) {
            return restarting([&] { return res_of(::send(a.fd, a.buf, a.len, a.flags | MSG_NOSIGNAL)); });
          },
          [](const accept_multishot_req&) { return -EOPNOTSUPP; },
          [](const recv_multishot_req&) { return -EOPNOTSUPP; },
          // Without a ring the registration means nothing: the buffer is an ordinary buffer.
          [](const read_fixed_req& a) { return restarting([&] { return res_of(::pread(a.fd, a.buf, a.len, a.offset)); }); },
          [](const write_fixed_req& a) {
            return restarting([&] { return res_of(::pwrite(a.fd, a.buf, a.len, a.offset)); });
          },
          [](const flock_req& a) { return restarting([&] { return res_of(::flock(a.fd, a.operation)); }); },
          [](const call_req& a) {
            a.invoke(a.context);
            return 0;
          },
          [](const splice_req& a) {
            loff_t in = a.off_in, out = a.off_out;
            return restarting([&] {
              return res_of(::splice(a.fd_in, a.off_in == current_position ? nullptr : &in, a.fd_out,
                                     a.off_out == current_position ? nullptr : &out, a.len, a.flags));
            });
          },
          [](const tee_req& a) { return restarting([&] { return res_of(::tee(a.fd_in, a.fd_out, a.len, a.flags)); }); },
          [](const poll_req& a) {
            pollfd f{a.fd, static_cast<short>(a.events | poll_always), 0};
            int n = restarting([&] { return res_of(::poll(&f, 1, -1)); });
            if (n < 0) return n;
            if (f.revents & POLLNVAL) return -EBADF;
            return static_cast<int>(static_cast<unsigned short>(f.revents));
          },
      },
      r);
}

}  // namespace couring::pool
