// 10,000 idle connections, each with a pending recv: on the thread pool they wait by readiness,
// so the fixed worker count suffices and no thread is added; cancelling one is immediate; all
// complete once data arrives. The same holds, and is checked, on every backend.
//
// This process holds one end of each connection; a child process holds the other ends (handed
// over with SCM_RIGHTS), so 10,000 connections cost 10,000 descriptors here, within the usual
// RLIMIT_NOFILE of 20,000. The soft limit is raised if needed; where even that is impossible the
// binary is skipped (exit 77).
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // the listener below
#include "fallback_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace couring;
using couring::testing::counter;
using couring::testing::op_record;
using couring::testing::record;
using couring::testing::record_options;
using couring::testing::thread_count;

namespace {

constexpr std::size_t connections = 10'000;
constexpr unsigned workers = 4;

class raise_fd_limit_or_skip : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testRunStarting(const Catch::TestRunInfo&) override {
    // One end of every connection, plus what the runtime, the harness and a batch in transit hold.
    std::string why = couring::testing::raise_fd_limit(connections + 512);
    if (!why.empty()) {
      std::printf("SKIP: 10,000 connections need 10,512 descriptors: %s\n", why.c_str());
      std::fflush(stdout);
      std::exit(77);
    }
  }
};
CATCH_REGISTER_LISTENER(raise_fd_limit_or_skip)

struct connection {
  unique_fd mine;
  char byte = '#';
};

// The far ends, held by a child process that sends one byte on each when told to.
class far_ends {
 public:
  far_ends() {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    std::fflush(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(sv[0]);
      child(sv[1]);
    }
    ::close(sv[1]);
    ctl_.reset(sv[0]);
  }
  far_ends(const far_ends&) = delete;
  far_ends& operator=(const far_ends&) = delete;

  // Hands the descriptors to the child and closes them here.
  void adopt(std::vector<int>& fds) {
    char cmd = 'F';
    iovec v{&cmd, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_batch)];
    msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    REQUIRE(::sendmsg(ctl_.get(), &m, MSG_NOSIGNAL) == 1);
    for (int fd : fds) ::close(fd);
    fds.clear();
  }

  // The child sends byte 'a' + i % 26 on connection i, in order; returns once it has sent all.
  void send_all() {
    char cmd = 'S';
    REQUIRE(::send(ctl_.get(), &cmd, 1, MSG_NOSIGNAL) == 1);
    char reply = 0;
    REQUIRE(::recv(ctl_.get(), &reply, 1, 0) == 1);
    REQUIRE(reply == 'D');
  }

  ~far_ends() {
    ctl_.reset();  // the child sees EOF and exits, closing every far end
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

  static constexpr std::size_t max_batch = 250;  // SCM_RIGHTS carries at most 253 per message

 private:
  [[noreturn]] static void child(int ctl) noexcept {
    std::vector<int> peers;
    peers.reserve(connections);
    for (;;) {
      char cmd = 0;
      iovec v{&cmd, 1};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_batch)];
      msghdr m{};
      m.msg_iov = &v;
      m.msg_iovlen = 1;
      m.msg_control = control;
      m.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(ctl, &m, MSG_CMSG_CLOEXEC);
      if (n <= 0) ::_exit(0);
      if (cmd == 'F') {
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
          std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          const char* data = reinterpret_cast<const char*>(CMSG_DATA(c));
          for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, data + i * sizeof(int), sizeof fd);
            peers.push_back(fd);
          }
        }
      } else if (cmd == 'S') {
        for (std::size_t i = 0; i < peers.size(); ++i) {
          char b = static_cast<char>('a' + i % 26);
          if (::send(peers[i], &b, 1, MSG_NOSIGNAL) != 1) ::_exit(1);
        }
        char done = 'D';
        if (::send(ctl, &done, 1, MSG_NOSIGNAL) != 1) ::_exit(1);
      }
    }
  }

  unique_fd ctl_;
  pid_t pid_ = -1;
};

std::size_t unread(int fd) {
  int n = 0;
  REQUIRE(::ioctl(fd, FIONREAD, &n) == 0);
  return static_cast<std::size_t>(n);
}

}  // namespace

TEST_CASE("10,000 idle sockets with a pending recv each: no thread added, cancel at once, all complete on data",
          "[fallback][idle][scale]") {
  couring::testing::fd_leak_check leaks;
  far_ends far;
  std::vector<connection> conns(connections);
  std::vector<int> batch;
  for (connection& c : conns) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    c.mine.reset(sv[0]);
    batch.push_back(sv[1]);
    if (batch.size() == far_ends::max_batch) far.adopt(batch);
  }
  if (!batch.empty()) far.adopt(batch);
  std::vector<op_record> rec(connections);
  counter done;
  const std::size_t threads_before = thread_count();
  runtime_config config;
  config.pool_threads = workers;
  config.shards = 1;  // the thread count below is the pool's alone
  runtime rt(config);
  const std::size_t threads_with_runtime = thread_count();
  CHECK(threads_with_runtime == threads_before);  // workers start on demand, and none is needed yet

  rt.run([&]() -> task<void> {
    stop_source every_tenth;
    for (std::size_t i = 0; i < connections; ++i) {
      record_options o;
      if (i % 10 == 0) o.token = every_tenth.token();
      spawn(record([fd = conns[i].mine.get(), b = &conns[i].byte] { return recv(fd, buffer(b, 1)); }, o, &rec[i], &done));
    }
    co_await yield();  // every recv is waiting now
    auto n = co_await nop();
    REQUIRE(n);
    CHECK(done.value() == 0);
    CHECK(thread_count() == threads_with_runtime);  // 10,000 waiting ops, not one more thread
    CHECK(rt.pool().started == 0);  // readiness waits, not workers

    // Cancelling is immediate: no data, no worker, just the cancellation.
    every_tenth.request_stop();
    co_await done.at_least(connections / 10);
    auto n2 = co_await nop();
    REQUIRE(n2);
    CHECK(done.value() == connections / 10);

    far.send_all();  // every byte is sent (the cancelled recvs' too) when this returns
    co_await done.at_least(connections);
    CHECK(thread_count() == threads_with_runtime);
  }());

  std::size_t wrong = 0;
  for (std::size_t i = 0; i < connections; ++i) {
    const bool cancelled = i % 10 == 0;
    const bool ok = rec[i].resumed == 1 &&
                    (cancelled ? rec[i].res == -ECANCELED && conns[i].byte == '#' && unread(conns[i].mine.get()) == 1
                               : rec[i].res == 1 && conns[i].byte == static_cast<char>('a' + i % 26));
    if (!ok && ++wrong <= 5) {
      INFO("connection " << i << ": resumed " << rec[i].resumed << " times, result " << rec[i].res << ", byte '"
                         << conns[i].byte << "'");
      CHECK(ok);
    }
  }
  CHECK(wrong == 0);
}
