// Sockets: TCP over IPv4 and IPv6, Unix streams, and the raw socket verbs, on every backend.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::temp_dir;

namespace {

std::string as_string(const std::array<char, 256>& buf, std::size_t n) { return std::string(buf.data(), n); }

// A connected TCP pair over `at` (port 0 picks one): the client's and the accepted server's ends.
struct tcp_pair {
  tcp_stream client;
  tcp_stream server;
};

task<result<tcp_pair>> connect_pair(const tcp_listener& l) {
  auto at = l.local_endpoint();
  if (!at) co_return at.error();
  // Loopback completes the handshake into the backlog, so accepting after connecting is fine.
  auto c = co_await tcp_stream::connect(*at);
  if (!c) co_return c.error();
  auto s = co_await l.accept();
  if (!s) co_return s.error();
  co_return tcp_pair{std::move(*c), std::move(*s)};
}

task<void> send_later(int fd, std::string text) {
  co_await yield();
  co_await yield();
  auto sent = co_await couring::send(fd, const_buffer_of(text));
  REQUIRE(sent);
  REQUIRE(*sent == text.size());
}

// Sends `text` a few bytes at a time, letting the loop run in between.
task<void> send_in_pieces(int fd, std::string text, std::size_t piece) {
  for (std::size_t at = 0; at < text.size(); at += piece) {
    co_await yield();
    co_await yield();
    auto s = co_await send_all(fd, const_buffer_of(text.substr(at, piece)));
    REQUIRE(s);
  }
}

task<void> stop_after_yields(stop_source* src) {
  for (int i = 0; i < 20; ++i) co_await yield();
  src->request_stop();
}

bool ipv6_unavailable(const std::error_code& e) {
  return e == std::errc::address_family_not_supported || e == std::errc::address_not_available;
}

}  // namespace

TEST_CASE("a TCP listener on IPv4 port 0 gets a free port; a client connects and both directions carry bytes",
          "[core][socket][tcp][accept][connect][send][recv]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    auto at = l->local_endpoint();
    REQUIRE(at);
    CHECK(at->family() == AF_INET);
    CHECK(at->port() != 0);
    CHECK(at->to_string() == "127.0.0.1:" + std::to_string(at->port()));

    auto p = co_await connect_pair(*l);
    REQUIRE(p);
    std::string ping = "ping", pong = "pong!";
    auto s1 = co_await p->client.send(const_buffer_of(ping));
    REQUIRE(s1);
    CHECK(*s1 == 4);
    std::array<char, 256> buf{};
    auto r1 = co_await p->server.recv(buffer(buf));
    REQUIRE(r1);
    CHECK(as_string(buf, *r1) == "ping");
    auto s2 = co_await p->server.send(const_buffer_of(pong));
    REQUIRE(s2);
    auto r2 = co_await p->client.recv(buffer(buf));
    REQUIRE(r2);
    CHECK(as_string(buf, *r2) == "pong!");

    auto client_local = p->client.local_endpoint();
    auto server_peer = p->server.peer_endpoint();
    REQUIRE(client_local);
    REQUIRE(server_peer);
    CHECK(client_local->to_string() == server_peer->to_string());
    auto client_peer = p->client.peer_endpoint();
    REQUIRE(client_peer);
    CHECK(client_peer->port() == at->port());
  }());
}

TEST_CASE("a TCP listener on IPv6 loopback accepts an IPv6 client", "[core][socket][tcp][ipv6]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto l = tcp_listener::bind(endpoint::loopback_v6(0));
    if (!l) {
      // Only a machine without IPv6 may refuse; say so rather than pass silently.
      WARN("IPv6 loopback unavailable: " << l.error().message());
      CHECK(ipv6_unavailable(l.error()));
      co_return;
    }
    auto at = l->local_endpoint();
    REQUIRE(at);
    CHECK(at->family() == AF_INET6);
    CHECK(at->port() != 0);
    CHECK(at->to_string() == "[::1]:" + std::to_string(at->port()));
    auto p = co_await connect_pair(*l);
    REQUIRE(p);
    std::string text = "over six";
    auto s = co_await p->client.send(const_buffer_of(text));
    REQUIRE(s);
    std::array<char, 256> buf{};
    auto r = co_await p->server.recv(buffer(buf));
    REQUIRE(r);
    CHECK(as_string(buf, *r) == text);
  }());
}

TEST_CASE("a dual-stack IPv6 listener accepts IPv4 clients unless v6_only is set", "[core][socket][tcp][ipv6]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto dual = tcp_listener::bind(endpoint::any_v6(0));
    if (!dual) {
      WARN("IPv6 unavailable: " << dual.error().message());
      CHECK(ipv6_unavailable(dual.error()));
      co_return;
    }
    auto port = dual->local_endpoint()->port();
    auto c = co_await tcp_stream::connect(endpoint::loopback_v4(port));
    REQUIRE(c);
    auto s = co_await dual->accept();
    REQUIRE(s);

    auto v6_only = tcp_listener::bind(endpoint::any_v6(0), listen_options{.v6_only = true});
    REQUIRE(v6_only);
    auto refused = co_await tcp_stream::connect(endpoint::loopback_v4(v6_only->local_endpoint()->port()));
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == std::errc::connection_refused);
  }());
}

TEST_CASE("binding a port that a listener holds fails with address_in_use", "[core][socket][tcp]") {
  fd_leak_check leaks;
  auto first = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(first);
  auto second = tcp_listener::bind(endpoint::loopback_v4(first->local_endpoint()->port()));
  REQUIRE_FALSE(second);
  CHECK(second.error() == std::errc::address_in_use);
  auto unix_ep = endpoint::unix_path("/tmp/x");
  REQUIRE(unix_ep);
  auto wrong_family = tcp_listener::bind(*unix_ep);
  REQUIRE_FALSE(wrong_family);
  CHECK(wrong_family.error() == std::errc::address_family_not_supported);
}

TEST_CASE("two listeners may share a port with reuse_port", "[core][socket][tcp]") {
  fd_leak_check leaks;
  auto a = tcp_listener::bind(endpoint::loopback_v4(0), listen_options{.reuse_port = true});
  REQUIRE(a);
  auto b = tcp_listener::bind(endpoint::loopback_v4(a->local_endpoint()->port()), listen_options{.reuse_port = true});
  REQUIRE(b);
  CHECK(b->local_endpoint()->port() == a->local_endpoint()->port());
}

TEST_CASE("connecting to a port nobody listens on fails with connection_refused", "[core][socket][connect]") {
  fd_leak_check leaks;
  std::uint16_t port;
  {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    port = l->local_endpoint()->port();
  }  // closed: the port is free again
  run([&]() -> task<void> {
    auto c = co_await tcp_stream::connect(endpoint::loopback_v4(port));
    REQUIRE_FALSE(c);
    CHECK(c.error() == std::errc::connection_refused);

    // The raw verbs say the same.
    auto fd = co_await couring::socket(AF_INET, SOCK_STREAM);
    REQUIRE(fd);
    endpoint to = endpoint::loopback_v4(port);
    auto raw = co_await couring::connect(fd->get(), to.data(), to.size());
    REQUIRE_FALSE(raw);
    CHECK(raw.error() == std::errc::connection_refused);
  }());
}

TEST_CASE("socket creates a close-on-exec descriptor; an unknown family fails with address_family_not_supported",
          "[core][socket]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto fd = co_await couring::socket(AF_INET, SOCK_STREAM);
    REQUIRE(fd);
    CHECK((::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC) != 0);
    int type = 0;
    socklen_t len = sizeof type;
    REQUIRE(::getsockopt(fd->get(), SOL_SOCKET, SO_TYPE, &type, &len) == 0);
    CHECK(type == SOCK_STREAM);

    auto udp = co_await couring::socket(AF_INET6, SOCK_DGRAM);
    // An IPv6-less kernel refuses the family; anything else must succeed.
    if (!udp) CHECK(udp.error() == std::errc::address_family_not_supported);

    auto bad = co_await couring::socket(AF_MAX + 10, SOCK_STREAM);
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == std::errc::address_family_not_supported);
  }());
}

TEST_CASE("accept reports the peer's address when asked for it", "[core][socket][accept]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    auto c = co_await tcp_stream::connect(*l->local_endpoint());
    REQUIRE(c);
    endpoint peer;
    *peer.size_ptr() = endpoint::capacity();
    auto fd = co_await couring::accept(l->fd(), peer.data(), peer.size_ptr());
    REQUIRE(fd);
    CHECK((::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(peer.family() == AF_INET);
    CHECK(peer.to_string() == c->local_endpoint()->to_string());
  }());
}

TEST_CASE("accept on a socket that is not listening fails with invalid_argument", "[core][socket][accept]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto fd = co_await couring::socket(AF_INET, SOCK_STREAM);
    REQUIRE(fd);
    auto a = co_await couring::accept(fd->get());
    REQUIRE_FALSE(a);
    CHECK(a.error() == std::errc::invalid_argument);
  }());
}

TEST_CASE("a recv waits for bytes that arrive later and is resumed exactly once", "[core][socket][recv]") {
  fd_leak_check leaks;
  int resumed = 0;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    spawn(send_later(pair->second.fd(), "eventually"));
    std::array<char, 256> buf{};
    auto r = co_await pair->first.recv(buffer(buf));
    ++resumed;
    REQUIRE(r);
    CHECK(as_string(buf, *r) == "eventually");
  }());
  CHECK(resumed == 1);
}

TEST_CASE("after the peer shuts down its write side recv returns 0 while the other direction still works",
          "[core][socket][shutdown][recv]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    auto p = co_await connect_pair(*l);
    REQUIRE(p);
    std::string last = "last words";
    auto s = co_await p->client.send(const_buffer_of(last));
    REQUIRE(s);
    auto sd = co_await p->client.shutdown(SHUT_WR);
    REQUIRE(sd);
    std::array<char, 256> buf{};
    auto r1 = co_await p->server.recv(buffer(buf), MSG_WAITALL);  // the whole message, then EOF
    REQUIRE(r1);
    CHECK(as_string(buf, *r1) == "last words");
    auto r2 = co_await p->server.recv(buffer(buf));
    REQUIRE(r2);
    CHECK(*r2 == 0);

    std::string reply = "still here";
    auto back = co_await p->server.send(const_buffer_of(reply));
    REQUIRE(back);
    auto r3 = co_await p->client.recv(buffer(buf));
    REQUIRE(r3);
    CHECK(as_string(buf, *r3) == "still here");

    auto after = co_await p->client.send(const_buffer_of(reply));
    REQUIRE_FALSE(after);
    CHECK(after.error() == std::errc::broken_pipe);
  }());
}

TEST_CASE("shutdown of a socket that is not connected fails with not_connected", "[core][socket][shutdown]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto fd = co_await couring::socket(AF_INET, SOCK_STREAM);
    REQUIRE(fd);
    auto r = co_await couring::shutdown(fd->get(), SHUT_RDWR);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::not_connected);
  }());
}

TEST_CASE("sending to a closed peer fails with an error and never raises SIGPIPE", "[core][socket][send]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto closed = co_await pair->second.close();
    REQUIRE(closed);
    std::string text = "into the void";
    auto s = co_await pair->first.send(const_buffer_of(text));
    REQUIRE_FALSE(s);
    CHECK(s.error() == std::errc::broken_pipe);
    auto w = co_await couring::write(pair->first.fd(), const_buffer_of(text));
    REQUIRE_FALSE(w);
    CHECK(w.error() == std::errc::broken_pipe);
  }());
}

TEST_CASE("read, write, readv and writev at the current position work on a connected socket",
          "[core][socket][read][write][readv][writev]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    std::string text = "plain write";
    auto w = co_await couring::write(pair->first.fd(), const_buffer_of(text));
    REQUIRE(w);
    CHECK(*w == text.size());
    std::array<char, 256> buf{};
    auto r = co_await couring::read(pair->second.fd(), buffer(buf));
    REQUIRE(r);
    CHECK(as_string(buf, *r) == text);

    std::string a = "vec", b = "tored";
    std::array<iovec, 2> out{{{a.data(), a.size()}, {b.data(), b.size()}}};
    auto wv = co_await couring::writev(pair->second.fd(), out);
    REQUIRE(wv);
    CHECK(*wv == 8);
    std::array<char, 5> x{};
    std::array<char, 5> y{};
    std::array<iovec, 2> in{{{x.data(), x.size()}, {y.data(), y.size()}}};
    auto rv = co_await couring::readv(pair->first.fd(), in);
    REQUIRE(rv);
    CHECK(*rv == 8);
    CHECK(std::string(x.data(), 5) + std::string(y.data(), 3) == "vectored");
  }());
}

TEST_CASE("recv with MSG_PEEK leaves the bytes for the next recv", "[core][socket][recv]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    std::string text = "peekaboo";
    auto s = co_await pair->first.send(const_buffer_of(text));
    REQUIRE(s);
    std::array<char, 256> buf{};
    auto peek = co_await pair->second.recv(buffer(buf), MSG_PEEK);
    REQUIRE(peek);
    CHECK(as_string(buf, *peek) == text);
    auto take = co_await pair->second.recv(buffer(buf));
    REQUIRE(take);
    CHECK(as_string(buf, *take) == text);
  }());
}

TEST_CASE("recv and send on a descriptor that is not a socket fail with not_a_socket", "[core][socket][recv][send]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("f", 10);
  run([&]() -> task<void> {
    auto f = co_await couring::open(path.c_str(), O_RDWR);
    REQUIRE(f);
    std::array<char, 16> buf{};
    auto r = co_await couring::recv(f->get(), buffer(buf));
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::not_a_socket);
    auto s = co_await couring::send(f->get(), const_buffer_of(buf));
    REQUIRE_FALSE(s);
    CHECK(s.error() == std::errc::not_a_socket);
    auto a = co_await couring::accept(f->get());
    REQUIRE_FALSE(a);
    CHECK(a.error() == std::errc::not_a_socket);
    auto sd = co_await couring::shutdown(f->get(), SHUT_WR);
    REQUIRE_FALSE(sd);
    CHECK(sd.error() == std::errc::not_a_socket);
  }());
}

TEST_CASE("set_nodelay turns TCP_NODELAY on and off", "[core][socket][tcp]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    auto p = co_await connect_pair(*l);
    REQUIRE(p);
    auto on = p->client.set_nodelay(true);
    REQUIRE(on);
    int v = 0;
    socklen_t len = sizeof v;
    REQUIRE(::getsockopt(p->client.fd(), IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0);
    CHECK(v != 0);
    auto off = p->client.set_nodelay(false);
    REQUIRE(off);
    REQUIRE(::getsockopt(p->client.fd(), IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0);
    CHECK(v == 0);
  }());
}

TEST_CASE("a Unix listener accepts a unix_stream that connects to its path", "[core][socket][unix]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("sock");
  run([&]() -> task<void> {
    auto l = unix_listener::bind(path);
    REQUIRE(l);
    auto at = l->local_endpoint();
    REQUIRE(at);
    CHECK(at->family() == AF_UNIX);
    CHECK(at->to_string() == "unix:" + path);
    auto c = co_await unix_stream::connect(path);
    REQUIRE(c);
    auto s = co_await l->accept();
    REQUIRE(s);
    std::string text = "local";
    auto sent = co_await c->send(const_buffer_of(text));
    REQUIRE(sent);
    std::array<char, 256> buf{};
    auto r = co_await s->recv(buffer(buf));
    REQUIRE(r);
    CHECK(as_string(buf, *r) == "local");
    auto cl = co_await c->close();
    REQUIRE(cl);
    auto eof = co_await s->recv(buffer(buf));
    REQUIRE(eof);
    CHECK(*eof == 0);
  }());
}

TEST_CASE("Unix sockets refuse an existing path, a missing listener and a path too long", "[core][socket][unix]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("sock");
  run([&]() -> task<void> {
    auto missing = co_await unix_stream::connect(dir.file("nobody"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
    {
      auto l = unix_listener::bind(path);
      REQUIRE(l);
      auto again = unix_listener::bind(path);
      REQUIRE_FALSE(again);
      CHECK(again.error() == std::errc::address_in_use);
    }
    // The socket file outlives its listener: nobody accepts there any more.
    auto stale = co_await unix_stream::connect(path);
    REQUIRE_FALSE(stale);
    CHECK(stale.error() == std::errc::connection_refused);

    std::string too_long = dir.path() + "/" + std::string(sizeof(sockaddr_un{}.sun_path), 'x');
    auto lt = unix_listener::bind(too_long);
    REQUIRE_FALSE(lt);
    CHECK(lt.error() == std::errc::filename_too_long);
    auto ct = co_await unix_stream::connect(too_long);
    REQUIRE_FALSE(ct);
    CHECK(ct.error() == std::errc::filename_too_long);
  }());
}

TEST_CASE("unix_stream::pair gives two connected streams", "[core][socket][unix]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    std::string there = "there", back = "and back";
    auto s1 = co_await pair->first.send(const_buffer_of(there));
    auto s2 = co_await pair->second.send(const_buffer_of(back));
    REQUIRE(s1);
    REQUIRE(s2);
    std::array<char, 256> buf{};
    auto r1 = co_await pair->second.recv(buffer(buf));
    REQUIRE(r1);
    CHECK(as_string(buf, *r1) == there);
    auto r2 = co_await pair->first.recv(buffer(buf));
    REQUIRE(r2);
    CHECK(as_string(buf, *r2) == back);
  }());
}

TEST_CASE("tcp_stream::connect to a Unix endpoint fails with address_family_not_supported", "[core][socket][tcp]") {
  fd_leak_check leaks;
  auto r = run([]() -> task<result<tcp_stream>> {
    auto to = endpoint::unix_path("/tmp/whatever");
    REQUIRE(to);
    co_return co_await tcp_stream::connect(*to);
  }());
  REQUIRE_FALSE(r);
  CHECK(r.error() == std::errc::address_family_not_supported);
}

TEST_CASE("many clients connecting at once are each accepted exactly once", "[core][socket][tcp][accept]") {
  fd_leak_check leaks;
  constexpr int clients = 64;
  int accepted = 0, echoed = 0;
  run([&]() -> task<void> {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    endpoint at = *l->local_endpoint();
    auto server = [&]() -> task<void> {
      for (int i = 0; i < clients; ++i) {
        auto s = co_await l->accept();
        REQUIRE(s);
        ++accepted;
        std::array<char, 8> b{};
        auto got = co_await recv_exactly(s->fd(), buffer(b));
        REQUIRE(got);
        auto sent = co_await send_all(s->fd(), const_buffer_of(b));
        REQUIRE(sent);
      }
    };
    auto client = [&](int i) -> task<void> {
      auto c = co_await tcp_stream::connect(at);
      REQUIRE(c);
      std::array<char, 8> id{};
      std::snprintf(id.data(), id.size(), "c%06d", i);
      auto sent = co_await send_all(c->fd(), const_buffer_of(id));
      REQUIRE(sent);
      std::array<char, 8> back{};
      auto got = co_await recv_exactly(c->fd(), buffer(back));
      REQUIRE(got);
      CHECK(back == id);
      ++echoed;
    };
    spawn(server());
    for (int i = 0; i < clients; ++i) spawn(client(i));
    while (echoed < clients) co_await yield();
  }());
  CHECK(accepted == clients);
  CHECK(echoed == clients);
}

TEST_CASE("recv with MSG_WAITALL waits until the whole buffer is filled by several sends",
          "[core][socket][recv][waitall]") {
  fd_leak_check leaks;
  std::string text = "gathered from many small sends";
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    spawn(send_in_pieces(pair->second.fd(), text, 4));
    std::array<char, 256> buf{};
    auto r = co_await pair->first.recv(buffer(buf.data(), text.size()), MSG_WAITALL);
    REQUIRE(r);
    CHECK(*r == text.size());
    CHECK(as_string(buf, *r) == text);
  }());
}

TEST_CASE("recv with MSG_WAITALL returns what arrived when the peer closes early, then 0",
          "[core][socket][recv][waitall]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto s = co_await send_all(pair->second.fd(), const_buffer_of(std::string("short")));
    REQUIRE(s);
    auto closed = co_await pair->second.close();
    REQUIRE(closed);
    std::array<char, 256> buf{};
    auto r = co_await pair->first.recv(buffer(buf.data(), 64), MSG_WAITALL);
    REQUIRE(r);
    CHECK(as_string(buf, *r) == "short");
    auto eof = co_await pair->first.recv(buffer(buf.data(), 64), MSG_WAITALL);
    REQUIRE(eof);
    CHECK(*eof == 0);
  }());
}

TEST_CASE("a cancelled recv with MSG_WAITALL loses no bytes: it reports those it took, or leaves them queued",
          "[core][socket][recv][waitall][cancel]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto s = co_await send_all(pair->second.fd(), const_buffer_of(std::string("part")));
    REQUIRE(s);
    stop_source src;
    spawn(stop_after_yields(&src));
    std::array<char, 256> buf{};
    auto r = co_await pair->first.recv(buffer(buf.data(), 64), MSG_WAITALL).with_token(src.token());
    if (r) {
      CHECK(as_string(buf, *r) == "part");  // it took them: they are in the buffer
    } else {
      CHECK(r.error() == std::errc::operation_canceled);  // cancelled before it started: still queued
      auto again = co_await pair->first.recv(buffer(buf));
      REQUIRE(again);
      CHECK(as_string(buf, *again) == "part");
    }

    stop_source empty_src;
    spawn(stop_after_yields(&empty_src));
    auto none = co_await pair->first.recv(buffer(buf.data(), 64), MSG_WAITALL).with_token(empty_src.token());
    REQUIRE_FALSE(none);
    CHECK(none.error() == std::errc::operation_canceled);
  }());
}

TEST_CASE("recv with MSG_WAITALL on a datagram socket returns one message", "[core][socket][recv][waitall]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) == 0);
    unique_fd a(fds[0]), b(fds[1]);
    auto s = co_await couring::send(b.get(), const_buffer_of(std::string("one datagram")));
    REQUIRE(s);
    std::array<char, 256> buf{};
    auto r = co_await couring::recv(a.get(), buffer(buf.data(), 64), MSG_WAITALL);
    REQUIRE(r);
    CHECK(as_string(buf, *r) == "one datagram");
  }());
}
