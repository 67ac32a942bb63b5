// Pollable descriptors (pipes, sockets, eventfds, character devices) on every backend. The same
// results everywhere; on the thread pool they wait by readiness, so with a single worker a file
// read still gets through while any number of them wait, and no loop thread ever blocks.
#include "fallback_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::code_of;
using couring::testing::counter;
using couring::testing::fd_leak_check;
using couring::testing::op_record;
using couring::testing::pattern_byte;
using couring::testing::record;
using couring::testing::temp_dir;

namespace {

// One worker: anything that pinned it would stop the file reads these tests interleave.
runtime_config one_worker() {
  runtime_config c;
  c.pool_threads = 1;
  return c;
}

struct pipe_fds {
  unique_fd read_end, write_end;
  pipe_fds() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
};

bool is_blocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) == 0; }

// A worker-routed op on every backend that has workers: proof that the pool is not pinned.
task<void> read_a_file(int fd) {
  std::array<char, 8> buf{};
  auto r = co_await read_at(fd, buffer(buf), 0);
  REQUIRE(r);
  CHECK(*r == buf.size());
  CHECK(static_cast<std::uint8_t>(buf[1]) == pattern_byte(1));
}

struct pattern_file {
  temp_dir dir;
  unique_fd fd;
  pattern_file() : fd(::open(dir.make_pattern_file("f", 64).c_str(), O_RDONLY | O_CLOEXEC)) { REQUIRE(fd); }
};

std::string text(const char* buf, long long n) { return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : ""; }

}  // namespace

TEST_CASE("reads waiting on blocking pipes, an eventfd and a socket leave the single worker free",
          "[fallback][pollable][pipe][eventfd]") {
  fd_leak_check leaks;
  pattern_file file;
  std::array<pipe_fds, 3> pipes;
  unique_fd efd(::eventfd(0, EFD_CLOEXEC));
  REQUIRE(efd);
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  unique_fd sock(sv[0]), peer(sv[1]);
  std::array<op_record, 5> rec;
  std::array<std::array<char, 16>, 5> bufs{};
  counter done;
  run([&]() -> task<void> {
    for (int i = 0; i < 3; ++i) {
      spawn(record([fd = pipes[i].read_end.get(), b = bufs[i].data()] { return couring::read(fd, buffer(b, 16)); }, {},
                   &rec[i], &done));
    }
    spawn(record([fd = efd.get(), b = bufs[3].data()] { return couring::read(fd, buffer(b, 8)); }, {}, &rec[3], &done));
    spawn(record([fd = sock.get(), b = bufs[4].data()] { return couring::read(fd, buffer(b, 16)); }, {}, &rec[4], &done));
    co_await yield();
    co_await read_a_file(file.fd.get());
    co_await read_a_file(file.fd.get());
    CHECK(done.value() == 0);
    for (int i = 0; i < 3; ++i) {
      std::string msg = "pipe " + std::to_string(i);
      auto w = co_await couring::write(pipes[i].write_end.get(), const_buffer_of(msg));
      REQUIRE(w);
    }
    std::uint64_t five = 5;
    auto we = co_await couring::write(efd.get(), buffer(&five, sizeof five));
    REQUIRE(we);
    std::string hello = "hello";
    auto ws = co_await couring::write(peer.get(), const_buffer_of(hello));
    REQUIRE(ws);
    co_await done.at_least(5);
  }(), one_worker());
  for (int i = 0; i < 3; ++i) {
    CHECK(rec[i].resumed == 1);
    CHECK(text(bufs[i].data(), rec[i].res) == "pipe " + std::to_string(i));
    CHECK(is_blocking(pipes[i].read_end.get()));  // waited for, never switched to O_NONBLOCK
  }
  CHECK(rec[3].res == 8);
  std::uint64_t value = 0;
  std::memcpy(&value, bufs[3].data(), sizeof value);
  CHECK(value == 5);
  CHECK(text(bufs[4].data(), rec[4].res) == "hello");
  CHECK(is_blocking(efd.get()));
  CHECK(is_blocking(sock.get()));
}

TEST_CASE("a write to a full blocking pipe waits for room, then completes", "[fallback][pollable][pipe]") {
  pattern_file file;
  pipe_fds p;
  // Fill the pipe without blocking this thread, then make it blocking again.
  const int flags = ::fcntl(p.write_end.get(), F_GETFL);
  REQUIRE(::fcntl(p.write_end.get(), F_SETFL, flags | O_NONBLOCK) == 0);
  std::vector<char> chunk(4096, 'f');
  std::size_t filled = 0;
  for (;;) {
    ssize_t n = ::write(p.write_end.get(), chunk.data(), chunk.size());
    if (n < 0) break;
    filled += static_cast<std::size_t>(n);
  }
  REQUIRE(errno == EAGAIN);
  REQUIRE(::fcntl(p.write_end.get(), F_SETFL, flags) == 0);
  op_record wrote;
  counter done;
  std::string msg(100, 'm');
  run([&]() -> task<void> {
    spawn(record([fd = p.write_end.get(), &msg] { return couring::write(fd, const_buffer_of(msg)); }, {}, &wrote, &done));
    co_await yield();
    co_await read_a_file(file.fd.get());
    CHECK(done.value() == 0);
    std::vector<char> drain(filled);
    auto drained = co_await read_exactly(p.read_end.get(), buffer(drain));
    REQUIRE(drained);
    co_await done.at_least(1);
    CHECK(wrote.res == 100);
    std::string back(100, '\0');
    auto got = co_await read_exactly(p.read_end.get(), buffer(back));
    REQUIRE(got);
    CHECK(back == msg);
  }(), one_worker());
  CHECK(is_blocking(p.write_end.get()));
}

TEST_CASE("a pipe reports EOF, EPIPE and EBADF like read(2) and write(2)", "[fallback][pollable][pipe][errors]") {
  run([]() -> task<void> {
    pipe_fds p;
    std::array<char, 8> buf{};
    auto wrong_end = co_await couring::read(p.write_end.get(), buffer(buf));
    REQUIRE_FALSE(wrong_end);
    CHECK(wrong_end.error() == std::errc::bad_file_descriptor);
    p.write_end.reset();
    auto eof = co_await couring::read(p.read_end.get(), buffer(buf));
    REQUIRE(eof);
    CHECK(*eof == 0);
    pipe_fds q;
    q.read_end.reset();
    std::string x = "x";
    auto broken = co_await couring::write(q.write_end.get(), const_buffer_of(x));
    REQUIRE_FALSE(broken);
    CHECK(broken.error() == std::errc::broken_pipe);
  }(), one_worker());
}

TEST_CASE("/dev/null and /dev/zero read, write and poll like read(2), write(2) and poll(2)",
          "[fallback][pollable][devices]") {
  fd_leak_check leaks;
  run([]() -> task<void> {
    unique_fd null(::open("/dev/null", O_RDWR | O_CLOEXEC)), zero(::open("/dev/zero", O_RDWR | O_CLOEXEC));
    REQUIRE(null);
    REQUIRE(zero);
    std::vector<char> buf(4096, '#');
    auto from_null = co_await couring::read(null.get(), buffer(buf));
    REQUIRE(from_null);
    CHECK(*from_null == 0);
    auto to_null = co_await couring::write(null.get(), buffer(buf));
    REQUIRE(to_null);
    CHECK(*to_null == buf.size());
    auto from_zero = co_await couring::read(zero.get(), buffer(buf));
    REQUIRE(from_zero);
    CHECK(*from_zero == buf.size());
    CHECK(std::count(buf.begin(), buf.end(), '\0') == static_cast<long>(buf.size()));
    std::fill(buf.begin(), buf.end(), '#');
    auto at_offset = co_await read_at(zero.get(), buffer(buf.data(), 100), 12345);
    REQUIRE(at_offset);
    CHECK(*at_offset == 100);
    CHECK(buf[99] == '\0');
    CHECK(buf[100] == '#');
    std::array<char, 3> a{}, b{};
    a.fill('#');
    b.fill('#');
    std::array<iovec, 2> iov{{{a.data(), a.size()}, {b.data(), b.size()}}};
    auto vec = co_await readv(zero.get(), iov);
    REQUIRE(vec);
    CHECK(*vec == 6);
    CHECK(b[2] == '\0');
    auto to_zero = co_await couring::write(zero.get(), buffer(buf.data(), 10));
    REQUIRE(to_zero);
    CHECK(*to_zero == 10);
    auto ready = co_await couring::poll(null.get(), POLLIN | POLLOUT);
    REQUIRE(ready);
    CHECK(*ready == (POLLIN | POLLOUT));
  }(), one_worker());
}

TEST_CASE("an eventfd read waits for a write; a short buffer is EINVAL", "[fallback][pollable][eventfd]") {
  unique_fd efd(::eventfd(0, EFD_CLOEXEC));
  REQUIRE(efd);
  op_record got;
  counter done;
  std::uint64_t value = 0;
  run([&]() -> task<void> {
    std::array<char, 4> small{};
    auto too_short = co_await couring::read(efd.get(), buffer(small));
    REQUIRE_FALSE(too_short);
    CHECK(too_short.error() == std::errc::invalid_argument);
    spawn(record([fd = efd.get(), &value] { return couring::read(fd, buffer(&value, sizeof value)); }, {}, &got, &done));
    co_await yield();
    CHECK(done.value() == 0);
    std::uint64_t add = 3;
    auto w1 = co_await couring::write(efd.get(), buffer(&add, sizeof add));
    REQUIRE(w1);
    co_await done.at_least(1);
  }(), one_worker());
  CHECK(got.res == 8);
  CHECK(value == 3);
}

TEST_CASE("a socket read and written through read() and write() behaves like recv() and send()",
          "[fallback][pollable][socket]") {
  run([]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto& [a, b] = *pair;
    std::string msg = "through read()";
    auto w = co_await couring::write(b.fd(), const_buffer_of(msg));
    REQUIRE(w);
    CHECK(*w == msg.size());
    std::array<char, 64> buf{};
    auto r = co_await couring::read(a.fd(), buffer(buf));
    REQUIRE(r);
    CHECK(std::string(buf.data(), *r) == msg);
    auto shut = co_await b.shutdown(SHUT_WR);
    REQUIRE(shut);
    auto eof = co_await couring::read(a.fd(), buffer(buf));
    REQUIRE(eof);
    CHECK(*eof == 0);
  }(), one_worker());
}

TEST_CASE("a positional read or write on a pipe ignores the offset; a socket takes only offset 0, as on io_uring",
          "[fallback][pollable][pipe][socket]") {
  pipe_fds p;
  op_record waiting;
  counter done;
  std::array<char, 16> buf{};
  run([&]() -> task<void> {
    std::string msg = "positional";
    auto w = co_await write_at(p.write_end.get(), const_buffer_of(msg), 1000);
    REQUIRE(w);
    CHECK(*w == msg.size());
    auto r = co_await read_at(p.read_end.get(), buffer(buf), 7);
    REQUIRE(r);
    CHECK(std::string(buf.data(), *r) == msg);
    spawn(record([fd = p.read_end.get(), &buf] { return read_at(fd, buffer(buf), 7); }, {}, &waiting, &done));
    co_await yield();
    std::string late = "late";
    auto wl = co_await couring::write(p.write_end.get(), const_buffer_of(late));
    REQUIRE(wl);
    co_await done.at_least(1);
    CHECK(text(buf.data(), waiting.res) == "late");

    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto& [a, b] = *pair;
    auto ws = co_await write_at(b.fd(), const_buffer_of(msg), 0);
    REQUIRE(ws);
    auto rs = co_await read_at(a.fd(), buffer(buf), 0);
    REQUIRE(rs);
    CHECK(std::string(buf.data(), *rs) == msg);
    auto ws5 = co_await write_at(b.fd(), const_buffer_of(msg), 5);
    REQUIRE_FALSE(ws5);
    CHECK(ws5.error() == std::errc::invalid_seek);
    auto rs5 = co_await read_at(a.fd(), buffer(buf), 5);
    REQUIRE_FALSE(rs5);
    CHECK(rs5.error() == std::errc::invalid_seek);
    std::array<iovec, 1> iov{{{buf.data(), buf.size()}}};
    auto wv = co_await writev(p.write_end.get(), iov, 3);
    REQUIRE(wv);
    CHECK(*wv == buf.size());
    auto rv = co_await readv(p.read_end.get(), iov, 3);
    REQUIRE(rv);
    CHECK(*rv == buf.size());
  }(), one_worker());
  CHECK(waiting.resumed == 1);
}

TEST_CASE("connect on a blocking TCP socket completes without blocking the loop and leaves the socket blocking",
          "[fallback][pollable][connect]") {
  fd_leak_check leaks;
  run([]() -> task<void> {
    auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(listener);
    auto at = listener->local_endpoint();
    REQUIRE(at);
    auto s = co_await couring::socket(AF_INET, SOCK_STREAM);
    REQUIRE(s);
    REQUIRE(is_blocking(s->get()));
    auto c = co_await couring::connect(s->get(), at->data(), at->size());
    REQUIRE(c);
    CHECK(is_blocking(s->get()));
    auto peer = co_await listener->accept();
    REQUIRE(peer);
    std::string msg = "over tcp";
    auto sent = co_await send(s->get(), const_buffer_of(msg));
    REQUIRE(sent);
    std::array<char, 16> buf{};
    auto got = co_await peer->recv(buffer(buf));
    REQUIRE(got);
    CHECK(std::string(buf.data(), *got) == msg);
  }(), one_worker());
}

TEST_CASE("connect reports ECONNREFUSED for a closed TCP port and for a Unix path nobody listens on",
          "[fallback][pollable][connect][errors]") {
  temp_dir dir;
  run([&]() -> task<void> {
    endpoint at;
    {
      auto l = tcp_listener::bind(endpoint::loopback_v4(0));
      REQUIRE(l);
      auto e = l->local_endpoint();
      REQUIRE(e);
      at = *e;
    }  // closed here: nobody listens on that port now
    auto s = co_await couring::socket(AF_INET, SOCK_STREAM);
    REQUIRE(s);
    auto refused = co_await couring::connect(s->get(), at.data(), at.size());
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == std::errc::connection_refused);

    const std::string path = dir.file("stale.sock");
    {
      auto l = unix_listener::bind(path);
      REQUIRE(l);
    }  // the socket file stays, with no listener behind it
    auto u = co_await couring::socket(AF_UNIX, SOCK_STREAM);
    REQUIRE(u);
    auto to = endpoint::unix_path(path);
    REQUIRE(to);
    auto stale = co_await couring::connect(u->get(), to->data(), to->size());
    REQUIRE_FALSE(stale);
    CHECK(stale.error() == std::errc::connection_refused);
  }(), one_worker());
}

TEST_CASE("a blocking Unix connect to a full backlog waits until the listener accepts", "[fallback][pollable][connect]") {
  temp_dir dir;
  const std::string path = dir.file("full.sock");
  op_record connected;
  counter done;
  run([&]() -> task<void> {
    auto listener = unix_listener::bind(path, listen_options{0});
    REQUIRE(listener);
    auto to = endpoint::unix_path(path);
    REQUIRE(to);
    // A backlog of 0 holds one connection: this one fills it.
    unique_fd first(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    REQUIRE(::connect(first.get(), to->data(), to->size()) == 0);
    unique_fd second(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(second);
    const endpoint target = *to;
    spawn(record([fd = second.get(), &target] { return couring::connect(fd, target.data(), target.size()); }, {},
                 &connected, &done));
    co_await yield();
    auto n = co_await nop();
    REQUIRE(n);
    CHECK(done.value() == 0);
    auto one = co_await listener->accept();  // makes room
    REQUIRE(one);
    co_await done.at_least(1);
    CHECK(connected.res == 0);
    auto two = co_await listener->accept();
    REQUIRE(two);
  }(), one_worker());
  CHECK(connected.resumed == 1);
}

namespace {

struct accepted {
  int resumed = 0;
  result<unix_stream> stream = std::errc::operation_in_progress;
};

task<void> accept_one(const unix_listener* l, accepted* out, counter* done) {
  auto s = co_await l->accept();
  ++out->resumed;
  out->stream = std::move(s);
  done->increment();
}

}  // namespace

TEST_CASE("two acceptors on one blocking listener each take one connection; the loop keeps running between them",
          "[fallback][pollable][accept]") {
  temp_dir dir;
  const std::string path = dir.file("two.sock");
  accepted first, second;
  counter done;
  run([&]() -> task<void> {
    auto listener = unix_listener::bind(path);
    REQUIRE(listener);
    REQUIRE(is_blocking(listener->fd()));
    spawn(accept_one(&*listener, &first, &done));
    spawn(accept_one(&*listener, &second, &done));
    co_await yield();
    auto c1 = co_await unix_stream::connect(path);
    REQUIRE(c1);
    co_await done.at_least(1);
    // The other acceptor found the queue empty: were the loop stuck in accept4, nothing below ran.
    pipe_fds p;
    std::string ping = "ping";
    auto w = co_await couring::write(p.write_end.get(), const_buffer_of(ping));
    REQUIRE(w);
    std::array<char, 4> buf{};
    auto r = co_await couring::read(p.read_end.get(), buffer(buf));
    REQUIRE(r);
    CHECK(done.value() == 1);
    auto c2 = co_await unix_stream::connect(path);
    REQUIRE(c2);
    co_await done.at_least(2);
    CHECK(is_blocking(listener->fd()));
  }(), one_worker());
  CHECK(first.resumed == 1);
  CHECK(second.resumed == 1);
  REQUIRE(first.stream);
  REQUIRE(second.stream);
  CHECK(first.stream->fd() != second.stream->fd());
}

TEST_CASE("recv with MSG_WAITALL returns the whole buffer sent in pieces, or what came before EOF",
          "[fallback][pollable][recv]") {
  op_record whole, partial;
  counter done;
  std::array<char, 12> buf{}, buf2{};
  run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto& [a, b] = *pair;
    spawn(record([fd = a.fd(), &buf] { return recv(fd, buffer(buf), MSG_WAITALL); }, {}, &whole, &done));
    for (const char* piece : {"abcd", "efgh", "ijkl"}) {
      co_await yield();
      std::string s = piece;
      auto sent = co_await b.send(const_buffer_of(s));
      REQUIRE(sent);
    }
    co_await done.at_least(1);
    CHECK(whole.res == 12);
    CHECK(std::string(buf.data(), 12) == "abcdefghijkl");
    spawn(record([fd = a.fd(), &buf2] { return recv(fd, buffer(buf2), MSG_WAITALL); }, {}, &partial, &done));
    co_await yield();
    std::string five = "12345";
    auto sent = co_await b.send(const_buffer_of(five));
    REQUIRE(sent);
    auto shut = co_await b.shutdown(SHUT_WR);
    REQUIRE(shut);
    co_await done.at_least(2);
    CHECK(partial.res == 5);
    CHECK(std::string(buf2.data(), 5) == "12345");
  }(), one_worker());
}

TEST_CASE("after a waiting recv is cancelled and its fd closed, a new socket with that fd number is served",
          "[fallback][pollable][cancel]") {
  op_record cancelled, served;
  counter done;
  std::array<char, 8> buf{};
  run([&]() -> task<void> {
    int old_fd = -1;
    {
      auto pair = unix_stream::pair();
      REQUIRE(pair);
      old_fd = pair->first.fd();
      stop_source src;
      spawn(record([fd = old_fd, &buf] { return recv(fd, buffer(buf)); }, {src.token()}, &cancelled, &done));
      co_await yield();
      src.request_stop();
      co_await done.at_least(1);
      CHECK(cancelled.res == -ECANCELED);
    }  // both ends closed
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto& [a, b] = *pair;
    CHECK(a.fd() == old_fd);  // the lowest free number: the same one
    spawn(record([fd = a.fd(), &buf] { return recv(fd, buffer(buf)); }, {}, &served, &done));
    co_await yield();
    std::string x = "x";
    auto sent = co_await b.send(const_buffer_of(x));
    REQUIRE(sent);
    co_await done.at_least(2);
    CHECK(served.res == 1);
  }(), one_worker());
}

TEST_CASE("errors are the same on every path: EISDIR, EBADF, ENOTSOCK, EINVAL", "[fallback][pollable][errors]") {
  temp_dir dir;
  run([&]() -> task<void> {
    unique_fd d(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(d);
    std::array<char, 8> buf{};
    auto isdir = co_await couring::read(d.get(), buffer(buf));
    REQUIRE_FALSE(isdir);
    CHECK(isdir.error() == std::errc::is_a_directory);
    auto isdir_at = co_await read_at(d.get(), buffer(buf), 0);
    REQUIRE_FALSE(isdir_at);
    CHECK(isdir_at.error() == std::errc::is_a_directory);
    int closed_fd = ::dup(d.get());
    REQUIRE(closed_fd >= 0);
    ::close(closed_fd);
    auto bad = co_await couring::read(closed_fd, buffer(buf));
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == std::errc::bad_file_descriptor);
    auto bad_recv = co_await recv(closed_fd, buffer(buf));
    REQUIRE_FALSE(bad_recv);
    CHECK(bad_recv.error() == std::errc::bad_file_descriptor);
    auto bad_poll = co_await couring::poll(closed_fd, POLLIN);
    REQUIRE_FALSE(bad_poll);
    CHECK(bad_poll.error() == std::errc::bad_file_descriptor);
    auto not_sock = co_await recv(d.get(), buffer(buf));
    REQUIRE_FALSE(not_sock);
    CHECK(not_sock.error() == std::errc::not_a_socket);
    auto s = co_await couring::socket(AF_INET, SOCK_STREAM);
    REQUIRE(s);
    auto not_listening = co_await couring::accept(s->get());
    REQUIRE_FALSE(not_listening);
    CHECK(not_listening.error() == std::errc::invalid_argument);
  }(), one_worker());
}
