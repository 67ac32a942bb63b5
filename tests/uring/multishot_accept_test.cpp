// accept_stream: a listener's connections as a stream. On io_uring one multishot accept serves
// it (re-armed when the kernel ends it or after back-pressure); elsewhere a loop of accepts. On
// every path each connection is delivered exactly once, none is lost, and nothing leaks.
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // the listener that raises the descriptor limit first
#include "fallback_support.hpp"
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace couring;
using namespace couring::testing;

namespace {

constexpr std::size_t connections = 1000;

// Both ends of every connection live in this process: 2,000 descriptors and some spare.
class raise_descriptor_limit : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testRunStarting(const Catch::TestRunInfo&) override {
    if (std::string why = raise_fd_limit(2 * connections + 256); !why.empty()) {
      std::printf("SKIP: %s\n", why.c_str());
      std::fflush(stdout);
      std::exit(77);
    }
  }
};
CATCH_REGISTER_LISTENER(raise_descriptor_limit)

std::array<std::byte, 2> id_bytes(std::size_t id) {
  return {static_cast<std::byte>(id & 0xff), static_cast<std::byte>(id >> 8)};
}

// Connects `count` clients one after another; each sends its id (2 bytes) and keeps its stream.
task<void> connect_clients(endpoint at, std::size_t count, std::vector<tcp_stream>* clients) {
  for (std::size_t id = 0; id < count; ++id) {
    auto c = co_await tcp_stream::connect(at);
    REQUIRE(c);
    auto id_out = id_bytes(id);
    auto sent = co_await send_all(c->fd(), const_buffer_of(id_out));
    REQUIRE(sent);
    clients->push_back(std::move(*c));
  }
}

// Takes `count` connections from the stream, reads each one's id and answers with one byte.
// `seen[id]` counts the deliveries of each client.
task<void> serve(accept_stream* incoming, std::size_t count, std::vector<int>* seen, std::vector<tcp_stream>* servers,
                 bool slow) {
  for (std::size_t i = 0; i < count; ++i) {
    if (slow) {
      for (int y = 0; y < 3; ++y) co_await yield();
    }
    auto conn = co_await incoming->next();
    REQUIRE(conn);
    std::array<std::byte, 2> id_in{};
    auto got = co_await recv_exactly(conn->fd(), buffer(id_in));
    REQUIRE(got);
    std::size_t id = static_cast<std::size_t>(id_in[0]) | (static_cast<std::size_t>(id_in[1]) << 8);
    REQUIRE(id < seen->size());
    ++(*seen)[id];
    std::array<std::byte, 1> answer{id_in[0]};
    auto sent = co_await send_all(conn->fd(), const_buffer_of(answer));
    REQUIRE(sent);
    servers->push_back(std::move(*conn));
  }
}

// Every client reads the one byte its server end sent back: the low byte of its own id.
task<std::size_t> count_answers(std::vector<tcp_stream>* clients) {
  std::size_t right = 0;
  for (std::size_t id = 0; id < clients->size(); ++id) {
    std::array<std::byte, 1> b{};
    auto got = co_await recv_exactly((*clients)[id].fd(), buffer(b));
    REQUIRE(got);
    right += b[0] == static_cast<std::byte>(id & 0xff);
  }
  co_return right;
}

std::size_t delivered_once(const std::vector<int>& seen) {
  std::size_t once = 0;
  for (int n : seen) once += n == 1;
  return once;
}

}  // namespace

TEST_CASE("1,000 connections through one accept_stream: each delivered exactly once, a byte through each",
          "[uring][accept_stream][multishot]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto [listener, at] = listen_on_loopback();
    const std::size_t multishot_kind = request_index<accept_multishot_req>(), accept_kind = request_index<accept_req>();
    backend_stats before = shard_stats();
    accept_stream incoming(listener);
    CHECK(incoming.multishot() == runs_natively(multishot_kind));
    if (runtime::current()->backend() == backend_kind::io_uring && std::getenv("COURING_URING_HIDE") == nullptr &&
        kernel_at_least(5, 19))
      CHECK(incoming.multishot());  // multishot accept exists since 5.19: it must be used

    std::vector<tcp_stream> clients, servers;
    std::vector<int> seen(connections, 0);
    co_await when_all(connect_clients(at, connections, &clients), serve(&incoming, connections, &seen, &servers, false));
    CHECK(delivered_once(seen) == connections);
    std::size_t answered = co_await count_answers(&clients);
    CHECK(answered == connections);

    backend_stats after = shard_stats();
    const std::uint64_t arms = after.submitted[multishot_kind] - before.submitted[multishot_kind];
    const std::uint64_t accepts = after.submitted[accept_kind] - before.submitted[accept_kind];
    if (incoming.multishot()) {
      // One SQE serves many connections: re-arms happen only when the kernel ends the op or the
      // consumer falls 64 connections behind, never once per connection.
      CHECK(arms >= 1);
      CHECK(arms <= connections / 10);
      CHECK(accepts == 0);
    } else {
      CHECK(arms == 0);
      CHECK(accepts >= connections);  // one accept per connection, plus the one still waiting
      CHECK(accepts <= connections + 1);
    }
    incoming.stop();
    auto after_stop = co_await incoming.next();
    REQUIRE_FALSE(after_stop);
    CHECK(after_stop.error() == std::errc::operation_canceled);
  }());
}

TEST_CASE("a consumer slower than its clients loses no connection and gets none twice (back-pressure)",
          "[uring][accept_stream][backpressure]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto [listener, at] = listen_on_loopback();
    const std::size_t multishot_kind = request_index<accept_multishot_req>();
    backend_stats before = shard_stats();
    const std::size_t count = 300;
    accept_stream incoming(listener, 8);
    std::vector<tcp_stream> clients, servers;
    std::vector<int> seen(count, 0);
    // The clients all connect before the consumer takes one: the stream fills up to its bound and
    // must stop taking connections off the backlog until the consumer catches up.
    co_await connect_clients(at, count, &clients);
    for (int y = 0; y < 10; ++y) co_await yield();
    co_await serve(&incoming, count, &seen, &servers, true);
    CHECK(delivered_once(seen) == count);
    std::size_t answered = co_await count_answers(&clients);
    CHECK(answered == count);
    if (incoming.multishot()) {
      const std::uint64_t arms = shard_stats().submitted[multishot_kind] - before.submitted[multishot_kind];
      CHECK(arms >= 2);  // paused at least once and re-armed
    }
  }());
}

TEST_CASE("destroying an accept_stream closes the connections it had not delivered", "[uring][accept_stream]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto [listener, at] = listen_on_loopback();
    std::vector<tcp_stream> clients;
    {
      accept_stream incoming(listener);
      co_await connect_clients(at, 5, &clients);
      auto first = co_await incoming.next();
      REQUIRE(first);
      for (int y = 0; y < 10; ++y) co_await yield();  // let the others be accepted too
    }
    // Every client's server end is closed now (or was never accepted and goes with the
    // listener): each client reads end of file, or a reset.
    listener = tcp_listener();
    for (auto& c : clients) {
      std::array<std::byte, 4> b{};
      auto r = co_await c.recv(buffer(b));
      if (r) CHECK(*r == 0);
      else CHECK(r.error() == std::errc::connection_reset);
    }
  }());
}

TEST_CASE("EMFILE is reported by next() without a busy re-accept, and accepting resumes once descriptors are free",
          "[uring][accept_stream][emfile]") {
  // In a child: the descriptor limit is lowered under the whole process.
  child_outcome child = in_child([] {
    expectations e;
    runtime rt;
    rt.run([&]() -> task<void> {
      auto [listener, at] = listen_on_loopback();
      const std::size_t clients_count = 5;
      std::vector<unique_fd> clients;
      for (std::size_t i = 0; i < clients_count; ++i) {
        unique_fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        // Loopback completes the handshake into the backlog at once.
        e.check(c.valid() && ::connect(c.get(), at.data(), at.size()) == 0, "a client connects");
        clients.push_back(std::move(c));
      }
      rlimit normal{};
      ::getrlimit(RLIMIT_NOFILE, &normal);
      rlimit lowered{open_fd_count(), normal.rlim_max};
      e.check(::setrlimit(RLIMIT_NOFILE, &lowered) == 0, "the limit is lowered");
      std::vector<unique_fd> fillers;  // take whatever numbers below the limit are still free
      for (int fd; (fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0;) fillers.emplace_back(fd);
      const std::size_t kinds[] = {request_index<accept_multishot_req>(), request_index<accept_req>()};
      backend_stats before = shard_stats();
      accept_stream incoming(listener, 8);
      auto refused = co_await incoming.next();

      e.check(!refused && refused.error() == std::errc::too_many_files_open, "next() reports EMFILE");
      for (int y = 0; y < 200; ++y) co_await yield();
      backend_stats during = shard_stats();
      std::uint64_t attempts = 0;
      for (std::size_t k : kinds) attempts += during.submitted[k] - before.submitted[k];
      // Each attempt meets EMFILE again: without a consumer asking, the stream must not keep
      // trying (the accept loop elsewhere stops once its queue of 8 is full; a busy one would
      // have tried hundreds of times by now).
      e.check(attempts <= 16, "no busy re-accept while nobody takes the errors (" + std::to_string(attempts) + " attempts)");
      fillers.clear();
      e.check(::setrlimit(RLIMIT_NOFILE, &normal) == 0, "the limit is restored");
      std::size_t connections = 0, errors = 0;
      std::vector<tcp_stream> accepted;
      while (connections < clients_count && errors <= 16) {
        auto next = co_await incoming.next();
        if (next) {
          ++connections;
          accepted.push_back(std::move(*next));
        } else {
          ++errors;  // errors queued while the limit held
        }
      }
      e.check(connections == clients_count, "every client is accepted once descriptors are free");
    }());
    return e.failures();
  });
  INFO(child.report);
  REQUIRE(child.exited);
  CHECK(child.status == 0);
  CHECK(child.report.empty());
}
