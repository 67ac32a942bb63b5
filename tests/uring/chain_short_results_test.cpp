// Short results in a chain, on every backend: io_uring ends a chain at a member that moved fewer
// bytes than it asked for (reads and writes of every form), but not at a send or a receive, which
// move what the socket takes or holds (unless MSG_WAITALL asked for the whole buffer). Where the
// chain runs its members one by one (the thread pool, emulated kinds) the same rule must hold.
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

using namespace couring;
using namespace couring::testing;

namespace {

bool is_canceled(const std::error_code& e) { return e == std::errc::operation_canceled; }

// A ten-byte file: reads at offset 6 find four bytes.
struct ten_bytes {
  temp_dir dir;
  std::string path = dir.file("data");
  unique_fd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  ten_bytes() { REQUIRE(::write(fd.get(), "0123456789", 10) == 10); }
};

// While it lives, files of this process may not grow past `bytes`: a write crossing the limit is
// short (POSIX), and SIGXFSZ, sent only for a write that could move nothing, is ignored.
class file_size_limit {
 public:
  explicit file_size_limit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lowered) == 0);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGXFSZ, &ignore, &saved_action_) == 0);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::sigaction(SIGXFSZ, &saved_action_, nullptr);
  }
  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;

 private:
  rlimit saved_{};
  struct sigaction saved_action_ {};
};

}  // namespace

TEST_CASE("a short readv breaks a chain like a short read", "[uring][chain][short]") {
  ten_bytes f;
  run([&]() -> task<void> {
    std::array<char, 4> a{}, b{};
    std::array<iovec, 2> iov{{{a.data(), a.size()}, {b.data(), b.size()}}};
    std::string tail = "TAIL";
    auto [r1, w2] = co_await chain(readv(f.fd.get(), iov, 6), write_at(f.fd.get(), const_buffer_of(tail), 10));
    REQUIRE(r1);
    CHECK(*r1 == 4);
    CHECK(std::string(a.data(), 4) == "6789");
    REQUIRE_FALSE(w2);
    CHECK(is_canceled(w2.error()));
  }());
  CHECK(slurp(f.path) == "0123456789");
}

TEST_CASE("a short read into a registered buffer breaks a chain", "[uring][chain][short][fixed_buffers]") {
  ten_bytes f;
  run([&]() -> task<void> {
    std::array<char, 8> pinned{};
    fixed_buffers registered({buffer(pinned)});
    std::string tail = "TAIL";
    auto [r1, w2] = co_await chain(registered.read_at(f.fd.get(), 0, 6), write_at(f.fd.get(), const_buffer_of(tail), 10));
    REQUIRE(r1);
    CHECK(*r1 == 4);
    CHECK(std::string(pinned.data(), 4) == "6789");
    REQUIRE_FALSE(w2);
    CHECK(is_canceled(w2.error()));
  }());
  CHECK(slurp(f.path) == "0123456789");
}

TEST_CASE("short writev and short writes from a registered buffer break a chain", "[uring][chain][short]") {
  temp_dir dir;
  std::string path = dir.file("data");
  unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  REQUIRE(fd.valid());
  std::vector<char> block(8192, 'x');
  {
    file_size_limit limit(4096);
    run([&]() -> task<void> {
      std::array<iovec, 2> iov{{{block.data(), 4096}, {block.data() + 4096, 4096}}};
      auto [w1, n2] = co_await chain(writev(fd.get(), iov, 0), nop());
      REQUIRE(w1);
      CHECK(*w1 == 4096);  // up to the limit
      REQUIRE_FALSE(n2);
      CHECK(is_canceled(n2.error()));

      fixed_buffers registered({buffer(block)});
      auto [w3, n4] = co_await chain(registered.write_at(fd.get(), 0, 2048), nop());
      REQUIRE(w3);
      CHECK(*w3 == 2048);
      REQUIRE_FALSE(n4);
      CHECK(is_canceled(n4.error()));
    }());
  }
  CHECK(slurp(path) == std::string(4096, 'x'));
}

namespace {

struct send_outcome {
  result<std::size_t> sent = std::size_t{0};
  result<void> next;
  std::size_t drained = 0;
  bool native = false;
};

// Chains `verb(4 MiB) → nop` on a loopback TCP connection whose peer drains it, and reports what
// each member yielded. TCP: the kernel refuses zero-copy on unix sockets (EOPNOTSUPP).
template <class Verb>
send_outcome send_then_nop(Verb verb, std::size_t kind, int flags) {
  const std::size_t size = 4 << 20;  // far more than a socket buffer holds
  std::vector<char> data(size, 'z');
  send_outcome out;
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    out.native = runs_natively(kind);
    auto sender = [&]() -> task<void> {
      auto [s, n] = co_await chain(verb(conn->near.fd(), const_buffer_of(data), flags), nop());
      out.sent = s;
      out.next = n;
      ::shutdown(conn->near.fd(), SHUT_WR);
    };
    auto drain = [&]() -> task<void> {
      std::vector<char> sink(64 * 1024);
      for (;;) {
        auto n = co_await recv(conn->far.fd(), buffer(sink));
        if (!n || *n == 0) co_return;
        out.drained += *n;
      }
    };
    co_await when_all(sender(), drain());
  }());
  return out;
}

template <class Verb>
void check_sends(Verb verb, std::size_t kind) {
  const std::size_t size = 4 << 20;
  SECTION("without MSG_WAITALL a short send does not end the chain") {
    send_outcome out = send_then_nop(verb, kind, 0);
    INFO((out.sent ? std::string("sent") : out.sent.error().message()));
    REQUIRE(out.sent);
    INFO("sent " << *out.sent << " of " << size);
    CHECK(out.drained == *out.sent);
    CHECK(out.next);
    if (!out.native) CHECK(*out.sent < size);  // a non-blocking send moves what fits: the case at stake
  }
  SECTION("with MSG_WAITALL the whole buffer goes, and the chain goes on") {
    send_outcome out = send_then_nop(verb, kind, MSG_WAITALL);
    REQUIRE(out.sent);
    CHECK(*out.sent == size);
    CHECK(out.drained == size);
    CHECK(out.next);
  }
}

}  // namespace

// io_uring (checked with raw liburing on 6.18) fails a send only below MSG_WAITALL's minimum, as it
// does a receive; the chains that run member by member must follow the same rule.
TEST_CASE("a short send or zero-copy send continues a chain as io_uring does", "[uring][chain][short][send]") {
  SECTION("send") {
    check_sends([](int fd, const_buffer b, int flags) { return send(fd, b, flags); }, kind_index<send_req>);
  }
  SECTION("send_zc") {
    check_sends([](int fd, const_buffer b, int flags) { return send_zc(fd, b, flags); }, kind_index<send_zc_req>);
  }
}

TEST_CASE("a short recv does not break a chain: it returns what has arrived, as io_uring does",
          "[uring][chain][short][recv]") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  unique_fd near(pair[0]), far(pair[1]);
  REQUIRE(::write(near.get(), "hi", 2) == 2);
  ten_bytes f;
  run([&]() -> task<void> {
    std::array<char, 16> buf{};
    std::string tail = "TAIL";
    auto [r1, w2] = co_await chain(recv(far.get(), buffer(buf)), write_at(f.fd.get(), const_buffer_of(tail), 10));
    REQUIRE(r1);
    CHECK(*r1 == 2);
    CHECK(std::string(buf.data(), 2) == "hi");
    REQUIRE(w2);
    CHECK(*w2 == 4);
  }());
  CHECK(slurp(f.path) == "0123456789TAIL");
}
