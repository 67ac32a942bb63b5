// Request kinds on sockets: create, accept, connect, receive, send, shut down, and the multishot
// forms the streams use where io_uring runs them natively.
#pragma once

#include <couring/detail/emulation.hpp>
#include <couring/detail/request_list.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdint>

namespace couring {

struct socket_req {
  int domain;
  int type;
  int protocol;

  static constexpr request_facts facts{.name = "socket", .uring = uring_op::socket, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const socket_req& r) noexcept {
    s.rw(uring_op::socket, r.domain, nullptr, static_cast<std::uint32_t>(r.protocol), static_cast<std::uint32_t>(r.type));
  }
  static emulation_plan emulate(const socket_req& r) noexcept { return emulation::done(exec(r)); }  // never blocks
  static int exec(const socket_req& r) noexcept { return emulation::res_of(::socket(r.domain, r.type, r.protocol)); }
  static constexpr auto descriptors() noexcept { return no_fields(); }
  static std::uint64_t chain_minimum(const socket_req&) noexcept { return 0; }
};

struct accept_req {
  int fd;
  sockaddr* addr;
  socklen_t* addrlen;
  int flags;

  static constexpr request_facts facts{.name = "accept", .uring = uring_op::accept, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = true};
  template <class Sqe>
  static void prep(Sqe& s, const accept_req& r) noexcept {
    s.rw(uring_op::accept, r.fd, r.addr, 0, reinterpret_cast<std::uintptr_t>(r.addrlen));
    // As for openat: a direct install refuses close-on-exec.
    s.op_flags(static_cast<std::uint32_t>(s.installs() ? r.flags & ~SOCK_CLOEXEC : r.flags));
  }
  static emulation_plan emulate(const accept_req& r) noexcept { return emulation::attempt_or_wait(r, r.fd, POLLIN); }
  // accept4 on a blocking listener would block if another waiter took the connection first, so
  // it runs only when poll() says a connection is queued right now.
  static int attempt(const accept_req& r) noexcept {
    pollfd p{r.fd, POLLIN, 0};
    int n = ::poll(&p, 1, 0);
    if (n < 0) return -errno;
    if (n == 0) return -EAGAIN;
    return emulation::normalise_again(emulation::res_of(::accept4(r.fd, r.addr, r.addrlen, r.flags)));
  }
  static int exec(const accept_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::accept4(r.fd, r.addr, r.addrlen, r.flags)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&accept_req::fd); }
  static std::uint64_t chain_minimum(const accept_req&) noexcept { return 0; }
};

struct connect_req {
  int fd;
  const sockaddr* addr;
  socklen_t addrlen;

  static constexpr request_facts facts{.name = "connect", .uring = uring_op::connect, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const connect_req& r) noexcept {
    s.rw(uring_op::connect, r.fd, r.addr, 0, r.addrlen);
  }
  // Starts the connect without blocking the loop: the socket is switched to O_NONBLOCK only for
  // the call itself, the handshake goes on in the kernel and is awaited by readiness (POLLOUT).
  static emulation_plan emulate(const connect_req& r) noexcept {
    int flags = ::fcntl(r.fd, F_GETFL);
    if (flags < 0) return emulation::done(-errno);
    if (!(flags & O_NONBLOCK) && ::fcntl(r.fd, F_SETFL, flags | O_NONBLOCK) < 0) return emulation::done(-errno);
    int started = emulation::res_of(::connect(r.fd, r.addr, r.addrlen));
    if (!(flags & O_NONBLOCK)) ::fcntl(r.fd, F_SETFL, flags);
    if (started == -EINPROGRESS) return emulation::when_ready(r.fd, POLLOUT);
    // A full AF_UNIX backlog answers EAGAIN to a non-blocking connect; a blocking one waits.
    if (started == -EAGAIN) return emulation::on_worker();
    return emulation::done(started);
  }
  // After POLLOUT: how the handshake ended.
  static int attempt(const connect_req& r) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(r.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    if (err == EINPROGRESS || err == EALREADY) return -EAGAIN;
    return -err;
  }
  // Not restarted: after EINTR the connection goes on in the kernel and connect() again would say
  // EALREADY. Only a cancel interrupts a worker, so EINTR means cancelled.
  static int exec(const connect_req& r) noexcept { return emulation::res_of(::connect(r.fd, r.addr, r.addrlen)); }
  static constexpr auto descriptors() noexcept { return fields(&connect_req::fd); }
  static std::uint64_t chain_minimum(const connect_req&) noexcept { return 0; }
};

struct recv_req {
  int fd;
  void* buf;
  std::uint32_t len;
  int flags;

  static constexpr request_facts facts{.name = "recv", .uring = uring_op::recv, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const recv_req& r) noexcept {
    s.rw(uring_op::recv, r.fd, r.buf, r.len, 0);
    s.op_flags(static_cast<std::uint32_t>(r.flags));
  }
  static emulation_plan emulate(const recv_req& r) noexcept {
    if (r.flags & MSG_WAITALL) return emulation::on_worker();  // only a blocking call fills the whole buffer
    return emulation::attempt_or_wait(r, r.fd, POLLIN);
  }
  static int attempt(const recv_req& r) noexcept {
    return emulation::res_of(::recv(r.fd, r.buf, r.len, r.flags | MSG_DONTWAIT));
  }
  static int exec(const recv_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::recv(r.fd, r.buf, r.len, r.flags)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&recv_req::fd); }
  // A receive returns what has arrived: the kernel breaks a chain on a short one only when
  // MSG_WAITALL asked for the whole buffer.
  static std::uint64_t chain_minimum(const recv_req& r) noexcept { return (r.flags & MSG_WAITALL) ? r.len : 0; }
};

struct send_req {
  int fd;
  const void* buf;
  std::uint32_t len;
  int flags;

  static constexpr request_facts facts{.name = "send", .uring = uring_op::send, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const send_req& r) noexcept {
    s.rw(uring_op::send, r.fd, r.buf, r.len, 0);
    s.op_flags(static_cast<std::uint32_t>(r.flags));
  }
  static emulation_plan emulate(const send_req& r) noexcept {
    if (r.flags & MSG_WAITALL) return emulation::on_worker();  // as io_uring: the whole buffer, or an error
    return emulation::attempt_or_wait(r, r.fd, POLLOUT);
  }
  static int attempt(const send_req& r) noexcept {
    return emulation::res_of(::send(r.fd, r.buf, r.len, r.flags | MSG_DONTWAIT | MSG_NOSIGNAL));
  }
  static int exec(const send_req& r) noexcept {
    return emulation::restarting([&] { return emulation::res_of(::send(r.fd, r.buf, r.len, r.flags | MSG_NOSIGNAL)); });
  }
  static constexpr auto descriptors() noexcept { return fields(&send_req::fd); }
  // Like a receive: io_uring (checked on 6.18) ends a chain at a short send only when MSG_WAITALL
  // asked for the whole buffer.
  static std::uint64_t chain_minimum(const send_req& r) noexcept { return (r.flags & MSG_WAITALL) ? r.len : 0; }
};

// Zero-copy send: completes only once the kernel no longer reads the buffer (its notification).
// Elsewhere an ordinary copying send, which makes the same promise.
struct send_zc_req {
  int fd;
  const void* buf;
  std::uint32_t len;
  int flags;

  static constexpr request_facts facts{.name = "send_zc", .uring = uring_op::send_zc, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = true,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const send_zc_req& r) noexcept {
    s.rw(uring_op::send_zc, r.fd, r.buf, r.len, 0);
    s.op_flags(static_cast<std::uint32_t>(r.flags));
  }
  // Elsewhere the emulation is send's: a copying send makes the same promise.
  static send_req as_send(const send_zc_req& r) noexcept { return {r.fd, r.buf, r.len, r.flags}; }
  static emulation_plan emulate(const send_zc_req& r) noexcept { return send_req::emulate(as_send(r)); }
  static int attempt(const send_zc_req& r) noexcept { return send_req::attempt(as_send(r)); }
  static int exec(const send_zc_req& r) noexcept { return send_req::exec(as_send(r)); }
  static constexpr auto descriptors() noexcept { return fields(&send_zc_req::fd); }
  static std::uint64_t chain_minimum(const send_zc_req& r) noexcept { return send_req::chain_minimum(as_send(r)); }
};

struct shutdown_req {
  int fd;
  int how;

  static constexpr request_facts facts{.name = "shutdown", .uring = uring_op::shutdown, .takes_ioprio = false,
                                       .device_pollable = false, .interruptible = true, .waits_for_readiness = false,
                                       .multishot = false, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const shutdown_req& r) noexcept {
    s.rw(uring_op::shutdown, r.fd, nullptr, static_cast<std::uint32_t>(r.how), 0);
  }
  static emulation_plan emulate(const shutdown_req& r) noexcept { return emulation::done(exec(r)); }  // never blocks
  static int exec(const shutdown_req& r) noexcept { return emulation::res_of(::shutdown(r.fd, r.how)); }
  static constexpr auto descriptors() noexcept { return fields(&shutdown_req::fd); }
  static std::uint64_t chain_minimum(const shutdown_req&) noexcept { return 0; }
};

// The multishot forms: one SQE, many completions. accept_stream and recv_stream use them only
// where io_uring runs them natively; elsewhere the streams loop over accept and recv, so the
// emulation never performs them.
struct accept_multishot_req {
  int fd;
  int flags;

  static constexpr request_facts facts{.name = "accept_multishot",
                                       .uring = kernel_op(uring_op::accept, uring_op::socket),
                                       .takes_ioprio = false, .device_pollable = false, .interruptible = true,
                                       .waits_for_readiness = false, .multishot = true, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const accept_multishot_req& r) noexcept {
    s.rw(uring_op::accept, r.fd, nullptr, 0, 0);
    s.op_flags(static_cast<std::uint32_t>(r.flags));
    s.ioprio(uring_flag::accept_multishot);
  }
  static emulation_plan emulate(const accept_multishot_req& r) noexcept { return emulation::done(exec(r)); }
  static int exec(const accept_multishot_req&) noexcept { return -EOPNOTSUPP; }
  static constexpr auto descriptors() noexcept { return fields(&accept_multishot_req::fd); }
  static std::uint64_t chain_minimum(const accept_multishot_req&) noexcept { return 0; }
};

struct recv_multishot_req {
  int fd;
  std::uint16_t buffer_group;  // the kernel picks a buffer of this provided-buffer group per result
  int flags;

  static constexpr request_facts facts{.name = "recv_multishot",
                                       .uring = kernel_op(uring_op::recv, uring_op::send_zc),
                                       .takes_ioprio = false, .device_pollable = false, .interruptible = true,
                                       .waits_for_readiness = false, .multishot = true, .installs_descriptor = false};
  template <class Sqe>
  static void prep(Sqe& s, const recv_multishot_req& r) noexcept {
    s.rw(uring_op::recv, r.fd, nullptr, 0, 0);
    s.op_flags(static_cast<std::uint32_t>(r.flags));
    s.ioprio(uring_flag::recv_multishot);
    s.select_buffer(r.buffer_group);
  }
  static emulation_plan emulate(const recv_multishot_req& r) noexcept { return emulation::done(exec(r)); }
  static int exec(const recv_multishot_req&) noexcept { return -EOPNOTSUPP; }
  static constexpr auto descriptors() noexcept { return fields(&recv_multishot_req::fd); }
  static std::uint64_t chain_minimum(const recv_multishot_req&) noexcept { return 0; }
};

using socket_requests = request_list<socket_req, accept_req, connect_req, recv_req, send_req, send_zc_req,
                                     shutdown_req, accept_multishot_req, recv_multishot_req>;

}  // namespace couring
