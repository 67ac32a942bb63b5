// Serving on every shard: one acceptor handing connections out round-robin (spawn_on), and one
// SO_REUSEPORT listener per shard with the kernel spreading connections.
#include "sched_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <vector>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::with_shards;

namespace {

// Answers one byte with two: the byte, and the digit of the shard that served it.
task<void> serve_one(tcp_stream conn) {
  std::array<char, 1> in{};
  auto r = co_await conn.recv(buffer(in));
  if (!r || *r != 1) co_return;
  std::array<char, 2> out{in[0], static_cast<char>('0' + this_shard())};
  auto w = co_await conn.send(const_buffer_of(out));
  (void)w;
}

// The shard that answered, or -1.
task<int> ask(endpoint to) {
  auto c = co_await tcp_stream::connect(to);
  if (!c) co_return -1;
  std::array<char, 1> q{'q'};
  auto w = co_await c->send(const_buffer_of(q));
  if (!w) co_return -1;
  std::array<char, 2> a{};
  std::size_t got = 0;
  while (got < a.size()) {
    auto r = co_await c->recv(buffer(a.data() + got, a.size() - got));
    if (!r || *r == 0) co_return -1;
    got += *r;
  }
  if (a[0] != 'q') co_return -1;
  co_return a[1] - '0';
}

task<int> accept_round_robin(const tcp_listener& l, int connections) {
  int handed = 0;
  for (int i = 0; i < connections; ++i) {
    auto c = co_await l.accept();
    if (!c) co_return handed;
    spawn_on(static_cast<unsigned>(i) % shard_count(), serve_one(std::move(*c)));
    ++handed;
  }
  co_return handed;
}

task<std::vector<int>> ask_many(endpoint to, int n) {
  std::vector<task<int>> clients;
  for (int i = 0; i < n; ++i) clients.push_back(ask(to));
  co_return co_await when_all(std::move(clients));
}

}  // namespace

TEST_CASE("one acceptor hands connections to the shards round-robin; each is served on its shard",
          "[sched][listen][shards]") {
  fd_leak_check leaks;
  std::vector<int> answered_by;
  int handed = 0;
  run([&]() -> task<void> {
    auto l = tcp_listener::bind(endpoint::loopback_v4(0));
    REQUIRE(l);
    auto at = l->local_endpoint();
    REQUIRE(at);
    auto [n, answers] = co_await when_all(accept_round_robin(*l, 6), ask_many(*at, 6));
    handed = n;
    answered_by = answers;
  }(), with_shards(2));
  CHECK(handed == 6);
  REQUIRE(answered_by.size() == 6);
  int on_0 = 0, on_1 = 0;
  for (int s : answered_by) {
    if (s == 0) ++on_0;
    if (s == 1) ++on_1;
  }
  CHECK(on_0 == 3);
  CHECK(on_1 == 3);
}

namespace {

// Accepts on this shard's own listener until cancelled; returns how many it served.
task<int> serve_until_cancelled(const tcp_listener& l) {
  int served = 0;
  for (;;) {
    auto c = co_await l.accept();
    if (!c) co_return served;  // operation_canceled: the test is over
    co_await serve_one(std::move(*c));
    ++served;
  }
}

task<int> serve_on_shard_1(const tcp_listener& l) {
  int served = co_await on_shard(1, [&l] { return serve_until_cancelled(l); });
  co_return served;
}

task<void> clients_then_cancel(endpoint to, int n, std::vector<int>& answers, stop_source& servers) {
  answers = co_await ask_many(to, n);
  servers.request_stop();
}

}  // namespace

TEST_CASE("a SO_REUSEPORT listener per shard on one port: every connection is served by one of them",
          "[sched][listen][shards]") {
  fd_leak_check leaks;
  constexpr int clients = 8;
  std::vector<int> answers;
  int served_0 = 0, served_1 = 0;
  run([&]() -> task<void> {
    auto l0 = tcp_listener::bind(endpoint::loopback_v4(0), listen_options{.reuse_port = true});
    REQUIRE(l0);
    auto at = l0->local_endpoint();
    REQUIRE(at);
    stop_source servers;
    // Bound on shard 1 (any thread could bind it; its accepts will run there).
    endpoint port = *at;
    auto l1 = co_await on_shard(1, [port] { return tcp_listener::bind(port, listen_options{.reuse_port = true}); });
    REQUIRE(l1);
    auto [n0, n1, done] = co_await when_all(serve_until_cancelled(*l0).with_token(servers.token()),
                                            serve_on_shard_1(*l1).with_token(servers.token()),
                                            clients_then_cancel(port, clients, answers, servers));
    (void)done;
    served_0 = n0;
    served_1 = n1;
  }(), with_shards(2));
  REQUIRE(answers.size() == static_cast<std::size_t>(clients));
  for (int s : answers) CHECK((s == 0 || s == 1));
  CHECK(served_0 + served_1 == clients);
}
