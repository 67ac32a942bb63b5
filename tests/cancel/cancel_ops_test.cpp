// Cancelling single ops: before submission, while in flight, after completion, and racing the
// completion. Every outcome is exactly one of value / error / operation_canceled, the awaiting
// coroutine resumes exactly once, and nothing the op produced (bytes, connections, fds) is lost.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::classify;
using couring::testing::fd_leak_check;
using couring::testing::outcome;
using couring::testing::temp_dir;
namespace t = couring::testing;

namespace {

// What one awaited op produced, and how many times its awaiter came back.
struct op_record {
  int resumed = 0;
  std::error_code error;
  std::size_t bytes = 0;
};

template <class R>
void record(op_record* rec, const R& r) {
  ++rec->resumed;
  if (!r) rec->error = r.error();
}

// Awaits an op (moved in before it was submitted) and records its outcome.
template <class Op>
task<void> await_recorded(Op op, op_record* rec) {
  auto r = co_await std::move(op);
  record(rec, r);
  if constexpr (std::is_same_v<decltype(r), result<std::size_t>>) {
    if (r) rec->bytes = *r;
  }
}

task<void> open_recorded(const char* path, int flags, stop_token tok, op_record* rec, file* out) {
  auto f = co_await file::open(path, flags, 0600).with_token(std::move(tok));
  record(rec, f);
  if (f) *out = std::move(*f);
}

task<void> accept_recorded(const unix_listener* l, stop_token tok, op_record* rec, unix_stream* out) {
  auto s = co_await l->accept().with_token(std::move(tok));
  record(rec, s);
  if (s) *out = std::move(*s);
}

// Lets the loop turn `yields` times (so that what was submitted reaches the kernel or a worker),
// then asks `src` to stop.
task<void> stop_after(stop_source* src, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  src->request_stop();
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// ---- before submission ------------------------------------------------------------------------

task<void> ops_with_stopped_token(runtime* rt, int sock, int lock_fd, std::string path, stop_token tok) {
  const auto submitted_before = t::total_submitted(rt->stats());
  std::array<char, 8> buf{};

  auto r = co_await couring::recv(sock, buffer(buf)).with_token(tok);
  REQUIRE_FALSE(r);
  CHECK(r.error() == std::errc::operation_canceled);

  auto f = co_await file::open(path.c_str(), O_CREAT | O_RDWR, 0600).with_token(tok);
  REQUIRE_FALSE(f);
  CHECK(f.error() == std::errc::operation_canceled);

  auto s = co_await sleep_for(1h).with_token(tok);
  REQUIRE_FALSE(s);
  CHECK(s.error() == std::errc::operation_canceled);

  auto l = co_await couring::lock(lock_fd, lock_mode::exclusive).with_token(tok);
  REQUIRE_FALSE(l);
  CHECK(l.error() == std::errc::operation_canceled);

  // A deadline does not turn a user's cancellation into a timeout.
  auto d = co_await with_timeout(couring::recv(sock, buffer(buf)).with_token(tok), 1h);
  REQUIRE_FALSE(d);
  CHECK(d.error() == std::errc::operation_canceled);

  CHECK(t::total_submitted(rt->stats()) == submitted_before);  // nothing reached the backend
}

TEST_CASE("an op whose token was stopped before it was awaited is operation_canceled and never submitted",
          "[cancel][before]") {
  temp_dir dir;
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd lock_fd(::open(dir.make_pattern_file("lock", 1).c_str(), O_RDWR | O_CLOEXEC));
  std::string path = dir.file("never-created");
  stop_source src;
  src.request_stop();
  runtime rt;
  rt.run(ops_with_stopped_token(&rt, sock.get(), lock_fd.get(), path, src.token()));
  CHECK_FALSE(exists(path));  // the open never ran: no side effect
}

task<std::error_code> recv_one(int fd) {
  char c;
  auto r = co_await couring::recv(fd, buffer(&c, 1));
  co_return r ? std::error_code{} : r.error();
}

task<void> inheriting_body(int fd, int* finished) {
  auto nested = co_await recv_one(fd);  // a task awaited here inherits this task's token
  CHECK(nested == std::errc::operation_canceled);
  auto s = co_await sleep_for(1h);
  REQUIRE_FALSE(s);
  CHECK(s.error() == std::errc::operation_canceled);
  ++*finished;
}

TEST_CASE("a task given a stopped token sees operation_canceled at every op, in nested tasks too",
          "[cancel][before][token]") {
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  stop_source src;
  src.request_stop();
  int finished = 0;
  run([&]() -> task<void> { co_await inheriting_body(sock.get(), &finished).with_token(src.token()); }());
  CHECK(finished == 1);
}

task<void> explicit_token_wins(int fd, stop_token other, int* finished) {
  // This task's own token is stopped; the op observes only the one it was given.
  std::array<char, 4> buf{};
  auto r = co_await couring::recv(fd, buffer(buf)).with_token(std::move(other));
  REQUIRE(r);
  CHECK(*r == 2);
  ++*finished;
}

TEST_CASE("an op given its own token with .with_token() ignores the task's token", "[cancel][token]") {
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  REQUIRE(::send(peer.get(), "hi", 2, 0) == 2);
  stop_source task_src;
  task_src.request_stop();
  stop_source op_src;
  int finished = 0;
  run([&]() -> task<void> {
    co_await explicit_token_wins(sock.get(), op_src.token(), &finished).with_token(task_src.token());
  }());
  CHECK(finished == 1);
}

// ---- while in flight ----------------------------------------------------------------------------

task<void> cancel_pending_recv(int sock, int peer, int* checked) {
  std::array<unsigned char, 16> buf;
  buf.fill(0xAA);
  stop_source src;
  op_record rec;
  co_await when_all(await_recorded(couring::recv(sock, buffer(buf)).with_token(src.token()), &rec), stop_after(&src, 3));
  CHECK(rec.resumed == 1);
  CHECK(rec.error == std::errc::operation_canceled);

  // The kernel is done with the buffer: data arriving now stays in the socket.
  REQUIRE(::send(peer, "xyz", 3, 0) == 3);
  for (int i = 0; i < 3; ++i) co_await yield();
  auto s = co_await sleep_for(5ms);
  REQUIRE(s);
  for (unsigned char b : buf) CHECK(b == 0xAA);

  std::array<char, 16> next{};
  auto r = co_await couring::recv(sock, buffer(next));
  REQUIRE(r);
  CHECK(std::string(next.data(), *r) == "xyz");
  ++*checked;
}

TEST_CASE("a pending recv cancelled is operation_canceled; later data is neither lost nor written to its buffer",
          "[cancel][in-flight][recv]") {
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  int checked = 0;
  run([&]() -> task<void> { co_await cancel_pending_recv(sock.get(), peer.get(), &checked); }());
  CHECK(checked == 1);
}

template <class Op>
task<void> cancel_while_waiting(Op op, const char* what, int* checked) {
  stop_source src;
  op_record rec;
  co_await when_all(await_recorded(std::move(op).with_token(src.token()), &rec), stop_after(&src, 3));
  INFO(what);
  CHECK(rec.resumed == 1);
  CHECK(rec.error == std::errc::operation_canceled);
  ++*checked;
}

task<void> cancel_each_kind(int pipe_read, const unix_listener* listener, int tcp_sock, int* checked) {
  std::array<char, 8> buf{};
  co_await cancel_while_waiting(couring::read(pipe_read, buffer(buf)), "read on a pipe", checked);
  co_await cancel_while_waiting(listener->accept(), "accept", checked);
  co_await cancel_while_waiting(couring::poll(pipe_read, POLLIN), "poll", checked);
  co_await cancel_while_waiting(sleep_for(1h), "sleep_for", checked);
  co_await cancel_while_waiting(sleep_until(std::chrono::steady_clock::now() + 1h), "sleep_until", checked);
  co_await cancel_while_waiting(couring::recv(tcp_sock, buffer(buf)), "recv on TCP loopback", checked);
  co_await cancel_while_waiting(couring::recv(tcp_sock, buffer(buf)).with_timeout(1h), "recv with a deadline",
                                checked);
}

TEST_CASE("every kind of waiting op is cancelled while in flight with operation_canceled",
          "[cancel][in-flight]") {
  temp_dir dir;
  fd_leak_check leaks;
  auto pipe_ends = t::pipe_pair();
  unique_fd& pipe_read = pipe_ends.first;
  auto listener = unix_listener::bind(dir.file("sock")).value();
  auto tcp = tcp_listener::bind(endpoint::loopback_v4(0)).value();
  int checked = 0;
  run([&]() -> task<void> {
    auto client = co_await tcp_stream::connect(tcp.local_endpoint().value());
    REQUIRE(client);
    co_await cancel_each_kind(pipe_read.get(), &listener, client->fd(), &checked);
  }());
  CHECK(checked == 7);
}

task<void> stop_open_then_lock(stop_source* open, stop_source* lock) {
  for (int i = 0; i < 3; ++i) co_await yield();
  open->request_stop();
  for (int i = 0; i < 3; ++i) co_await yield();
  lock->request_stop();
}

task<void> reuse_after_cancel(int* checked) {
  int old_number;
  {
    auto sock_peer = t::socket_pair();
    unique_fd& sock = sock_peer.first;
    old_number = sock.get();
    std::array<char, 4> buf{};
    co_await cancel_while_waiting(couring::recv(sock.get(), buffer(buf)), "recv before close", checked);
  }  // both closed: their numbers are free again
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  REQUIRE(sock.get() == old_number);  // the kernel hands out the lowest free number
  std::array<char, 4> buf{};
  std::error_code e;
  std::size_t n = 0;
  auto receiver = [](int fd, mutable_buffer b, std::error_code* out, std::size_t* got) -> task<void> {
    // The deadline only keeps a regression from hanging the test.
    auto r = co_await couring::recv(fd, b).with_timeout(10s);
    *out = r ? std::error_code{} : r.error();
    if (r) *got = *r;
  };
  auto sender = [](int fd) -> task<void> {
    for (int i = 0; i < 3; ++i) co_await yield();
    REQUIRE(::send(fd, "new", 3, 0) == 3);
  };
  co_await when_all(receiver(sock.get(), buffer(buf), &e, &n), sender(peer.get()));
  CHECK_FALSE(e);
  CHECK(std::string(buf.data(), n) == "new");
  ++*checked;
}

TEST_CASE("a socket reusing the fd number of one whose wait was cancelled is waited on normally",
          "[cancel][in-flight][recv]") {
  fd_leak_check leaks;
  int checked = 0;
  run([&]() -> task<void> { co_await reuse_after_cancel(&checked); }());
  CHECK(checked == 2);
}

task<void> waitall_recv_cancelled(int sock, int peer, int* checked) {
  // Nothing arrives: the wait is cancelled.
  std::array<char, 8> buf{};
  co_await cancel_while_waiting(couring::recv(sock, buffer(buf), MSG_WAITALL), "recv MSG_WAITALL", checked);

  // Part of what it waits for arrives, then the cancel: every byte is either in the result or
  // still in the socket.
  stop_source src;
  op_record rec;
  auto part = [](int fd, stop_source* s) -> task<void> {
    for (int i = 0; i < 3; ++i) co_await yield();
    REQUIRE(::send(fd, "ab", 2, 0) == 2);
    for (int i = 0; i < 3; ++i) co_await yield();
    s->request_stop();
  };
  co_await when_all(await_recorded(couring::recv(sock, buffer(buf), MSG_WAITALL).with_token(src.token()), &rec),
                    part(peer, &src));
  CHECK(rec.resumed == 1);
  const std::size_t left = t::drain(sock);
  if (rec.error) {
    CHECK(rec.error == std::errc::operation_canceled);
    CHECK(left == 2);
  } else {
    CHECK(rec.bytes + left == 2);
    CHECK(std::string(buf.data(), rec.bytes) == std::string("ab", rec.bytes));
  }
  ++*checked;
}

TEST_CASE("a recv with MSG_WAITALL (a blocking call on the pool's workers) is cancelled while it waits",
          "[cancel][in-flight][recv][pool]") {
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  int checked = 0;
  run([&]() -> task<void> { co_await waitall_recv_cancelled(sock.get(), peer.get(), &checked); }());
  CHECK(checked == 2);
}

task<void> queued_worker_op(runtime* rt, int held_fd, int wait_fd, std::string path, int* checked) {
  stop_source lock_src, open_src;
  op_record lock_rec, open_rec;
  file opened;
  // The only worker blocks in the lock; the open queues behind it.
  co_await when_all(await_recorded(couring::lock(wait_fd, lock_mode::exclusive).with_token(lock_src.token()), &lock_rec),
                    open_recorded(path.c_str(), O_CREAT | O_RDWR, open_src.token(), &open_rec, &opened),
                    stop_open_then_lock(&open_src, &lock_src));
  CHECK(lock_rec.resumed == 1);
  CHECK(lock_rec.error == std::errc::operation_canceled);  // a waiting lock is interrupted for real
  CHECK(open_rec.resumed == 1);
  const bool open_on_workers = rt->backend() == backend_kind::thread_pool ||
                               rt->stats().fallbacks[t::kind_of<openat_req>()] > 0;
  if (open_on_workers) {
    // POSIX AIO's AIO_CANCELED: dequeued, it never ran, so the file was never created.
    CHECK(open_rec.error == std::errc::operation_canceled);
    CHECK_FALSE(exists(path));
  } else if (!open_rec.error) {
    CHECK(opened.is_open());  // the kernel won: the fd is the caller's
    CHECK(exists(path));
  } else {
    CHECK(open_rec.error == std::errc::operation_canceled);
  }
  (void)held_fd;
  ++*checked;
}

TEST_CASE("a queued worker op cancelled before a worker took it never runs; a waiting lock is interrupted",
          "[cancel][in-flight][pool]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string lock_path = dir.make_pattern_file("lock", 1);
  unique_fd held(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  unique_fd waiting(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(::flock(held.get(), LOCK_EX | LOCK_NB) == 0);
  std::string path = dir.file("created-only-if-run");
  runtime_config cfg;
  cfg.pool_threads = 1;
  runtime rt(cfg);
  int checked = 0;
  rt.run(queued_worker_op(&rt, held.get(), waiting.get(), path, &checked));
  CHECK(checked == 1);
  // The cancelled lock is not held: once the holder lets go, a third descriptor gets it at once.
  REQUIRE(::flock(held.get(), LOCK_UN) == 0);
  unique_fd third(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  CHECK(::flock(third.get(), LOCK_EX | LOCK_NB) == 0);
}

// ---- after completion -------------------------------------------------------------------------

task<void> cancel_after_completion(int sock, int* checked) {
  stop_source src;
  std::array<char, 8> buf{};
  auto r = co_await couring::recv(sock, buffer(buf)).with_token(src.token());
  REQUIRE(r);
  CHECK(*r == 4);
  src.request_stop();  // the op is over: its callback is gone, nothing happens
  co_await yield();
  CHECK(std::string(buf.data(), 4) == "done");
  // The same token, now stopped, cancels the next op before it is submitted.
  auto again = co_await couring::recv(sock, buffer(buf)).with_token(src.token());
  REQUIRE_FALSE(again);
  CHECK(again.error() == std::errc::operation_canceled);
  ++*checked;
}

TEST_CASE("cancelling after the op completed changes nothing", "[cancel][after]") {
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  REQUIRE(::send(peer.get(), "done", 4, 0) == 4);
  int checked = 0;
  run([&]() -> task<void> { co_await cancel_after_completion(sock.get(), &checked); }());
  CHECK(checked == 1);
}

task<void> cancel_before_resumption(int sock, int* checked) {
  stop_source src;
  op_record rec;
  std::array<char, 8> buf{};
  // The recv finds its data at once; the stop comes in the same loop turn, after the op has its
  // answer (or, on io_uring, is queued behind it in the same submission) but before it resumed.
  co_await when_all(await_recorded(couring::recv(sock, buffer(buf)).with_token(src.token()), &rec), stop_after(&src, 0));
  CHECK(rec.resumed == 1);
  CHECK_FALSE(rec.error);
  CHECK(rec.bytes == 5);
  CHECK(std::string(buf.data(), 5) == "ready");
  ++*checked;
}

TEST_CASE("a cancel arriving after the op has its result but before it resumed yields the value",
          "[cancel][after]") {
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  REQUIRE(::send(peer.get(), "ready", 5, 0) == 5);
  int checked = 0;
  run([&]() -> task<void> { co_await cancel_before_resumption(sock.get(), &checked); }());
  CHECK(checked == 1);
}

// ---- racing completion --------------------------------------------------------------------------

struct race_tally {
  std::size_t values = 0;
  std::size_t canceled = 0;
  // The split shows which interleavings a backend produced (printed, never asserted exactly).
  void print(const char* what) const { std::printf("%s: %zu values, %zu operation_canceled\n", what, values, canceled); }
};

// The peer side of one race: after `yields` loop turns, sends and/or stops in the given order.
task<void> race_peer(stop_source* src, int peer, int yields, int order, char byte) {
  for (int i = 0; i < yields; ++i) co_await yield();
  switch (order) {
    case 0:
      REQUIRE(::send(peer, &byte, 1, 0) == 1);
      src->request_stop();
      break;
    case 1:
      src->request_stop();
      REQUIRE(::send(peer, &byte, 1, 0) == 1);
      break;
    case 2:
      src->request_stop();
      break;
    case 3:
      REQUIRE(::send(peer, &byte, 1, 0) == 1);  // no cancel: the recv must get it
      break;
    default:
      REQUIRE(::send(peer, &byte, 1, 0) == 1);  // the loop turns once between the two
      co_await yield();
      src->request_stop();
      break;
  }
}

task<void> recv_race_loop(int sock, int peer, std::size_t iterations, race_tally* tally) {
  std::mt19937 rng(t::test_seed(0xc0ffee));
  for (std::size_t i = 0; i < iterations; ++i) {
    const int yields = static_cast<int>(rng() % 3);
    // Orders 0, 1 and 4 race; 2 (stop only) and 3 (send only) have one possible outcome each.
    const int order = static_cast<int>(i % 5);
    const char byte = static_cast<char>('a' + i % 26);
    stop_source src;
    op_record rec;
    std::array<char, 4> buf{};
    co_await when_all(await_recorded(couring::recv(sock, buffer(buf)).with_token(src.token()), &rec),
                      race_peer(&src, peer, yields, order, byte));
    INFO("iteration " << i << ", yields " << yields << ", order " << order);
    REQUIRE(rec.resumed == 1);
    const bool sent = order != 2;
    const std::size_t left = t::drain(sock);
    if (!rec.error) {
      REQUIRE(sent);
      REQUIRE(rec.bytes == 1);
      REQUIRE(buf[0] == byte);
      REQUIRE(left == 0);
      ++tally->values;
    } else {
      REQUIRE(rec.error == std::errc::operation_canceled);
      REQUIRE(order != 3);
      REQUIRE(left == (sent ? 1u : 0u));  // a cancelled recv consumed nothing
      ++tally->canceled;
    }
  }
}

TEST_CASE("recv racing its cancel: exactly one outcome, one resumption, no byte lost or duplicated",
          "[cancel][race][recv]") {
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  race_tally tally;
  const std::size_t n = t::scaled(20000, 4);
  run([&]() -> task<void> { co_await recv_race_loop(sock.get(), peer.get(), n, &tally); }());
  tally.print("recv race");
  CHECK(tally.values + tally.canceled == n);
  CHECK(tally.values > 0);
  CHECK(tally.canceled > 0);
}

// Sends one byte each time `go` advances, from its own thread: the send races the loop for real.
class thread_sender {
 public:
  explicit thread_sender(int fd) : fd_(fd), thread_([this] { loop(); }) {}
  ~thread_sender() {
    go_.store(stop_value, std::memory_order_release);
    go_.notify_one();
    thread_.join();
  }
  // Asks for the send of round `i`; returns at once.
  void trigger(int i) {
    go_.store(i, std::memory_order_release);  // pairs with loop()'s acquire
    go_.notify_one();
  }
  // Blocks until round `i` was sent.
  void wait_sent(int i) {
    int seen;
    while ((seen = sent_.load(std::memory_order_acquire)) != i) sent_.wait(seen, std::memory_order_acquire);
  }

 private:
  static constexpr int stop_value = -2;
  void loop() {
    int last = -1;
    for (;;) {
      int g;
      while ((g = go_.load(std::memory_order_acquire)) == last) go_.wait(last, std::memory_order_acquire);
      if (g == stop_value) return;
      char byte = static_cast<char>('a' + g % 26);
      [[maybe_unused]] ssize_t r = ::send(fd_, &byte, 1, 0);
      last = g;
      sent_.store(g, std::memory_order_release);  // pairs with wait_sent()'s acquire
      sent_.notify_one();
    }
  }
  int fd_;
  std::atomic<int> go_{-1};
  std::atomic<int> sent_{-1};
  std::thread thread_;
};

// Triggers the other thread's send, then stops after a busy pause of `spin_us`: waking a thread
// takes tens of microseconds, so varying the pause lands the stop before, during and after the
// send. The pause only perturbs the interleaving; no assertion depends on it.
task<void> stop_now(stop_source* src, thread_sender* sender, int round, int yields, int spin_us,
                    int turns_after, bool until_sent) {
  for (int i = 0; i < yields; ++i) co_await yield();
  sender->trigger(round);
  if (until_sent) sender->wait_sent(round);  // the byte is in the socket; the loop has not seen it
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us);
  while (std::chrono::steady_clock::now() < until) {
  }
  for (int i = 0; i < turns_after; ++i) co_await yield();  // loop turns in which the data may land
  src->request_stop();
}

task<void> threaded_race_loop(int sock, thread_sender* sender, std::size_t iterations, race_tally* tally) {
  std::mt19937 rng(t::test_seed(0xbeef));
  for (std::size_t i = 0; i < iterations; ++i) {
    const int round = static_cast<int>(i);
    stop_source src;
    op_record rec;
    std::array<char, 4> buf{};
    co_await when_all(await_recorded(couring::recv(sock, buffer(buf)).with_token(src.token()), &rec),
                      stop_now(&src, sender, round, static_cast<int>(rng() % 3), static_cast<int>(rng() % 80),
                               static_cast<int>(rng() % 3), i % 2 == 1));
    sender->wait_sent(round);
    INFO("iteration " << i);
    REQUIRE(rec.resumed == 1);
    const std::size_t left = t::drain(sock);
    if (!rec.error) {
      REQUIRE(rec.bytes == 1);
      REQUIRE(buf[0] == static_cast<char>('a' + round % 26));
      REQUIRE(left == 0);
      ++tally->values;
    } else {
      REQUIRE(rec.error == std::errc::operation_canceled);
      REQUIRE(left == 1);
      ++tally->canceled;
    }
  }
}

TEST_CASE("recv racing a cancel while another thread sends: exactly one outcome, no byte lost",
          "[cancel][race][recv][threads]") {
  fd_leak_check leaks;
  auto sock_peer = t::socket_pair();
  unique_fd& sock = sock_peer.first;
  unique_fd& peer = sock_peer.second;
  race_tally tally;
  const std::size_t n = t::scaled(5000, 4);
  {
    thread_sender sender(peer.get());
    run([&]() -> task<void> { co_await threaded_race_loop(sock.get(), &sender, n, &tally); }());
  }
  tally.print("threaded recv race");
  CHECK(tally.values + tally.canceled == n);  // the split depends on thread wakeups: printed only
}

task<void> open_race_loop(std::string path, std::size_t iterations, race_tally* tally) {
  std::mt19937 rng(t::test_seed(0x0fe11));
  for (std::size_t i = 0; i < iterations; ++i) {
    stop_source src;
    op_record rec;
    file f;
    // One round in five is never stopped, so it must open.
    stop_source never;
    stop_source* target = i % 5 == 4 ? &never : &src;
    co_await when_all(open_recorded(path.c_str(), O_RDONLY, src.token(), &rec, &f),
                      stop_after(target, static_cast<int>(rng() % 4)));
    REQUIRE(rec.resumed == 1);
    if (!rec.error) {
      REQUIRE(f.is_open());  // the race's winner: an fd the result owns, closed with `f`
      char c;
      REQUIRE(::pread(f.fd(), &c, 1, 0) == 1);
      REQUIRE(static_cast<std::uint8_t>(c) == t::pattern_byte(0));
      ++tally->values;
    } else {
      REQUIRE(rec.error == std::errc::operation_canceled);
      REQUIRE(i % 5 != 4);
      REQUIRE_FALSE(f.is_open());
      ++tally->canceled;
    }
  }
}

TEST_CASE("an openat that wins the race against its cancel returns an owned fd; no outcome leaks one",
          "[cancel][race][openat]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 64);
  fd_leak_check leaks;
  race_tally tally;
  const std::size_t n = t::scaled(10000, 4);
  run([&]() -> task<void> { co_await open_race_loop(path, n, &tally); }());
  tally.print("openat race");
  CHECK(tally.values + tally.canceled == n);
  CHECK(tally.values > 0);
}

task<void> connect_after(stop_source* src, std::string path, unique_fd* client, int yields, int order) {
  for (int i = 0; i < yields; ++i) co_await yield();
  if (order == 0) {
    *client = t::connect_unix(path);
    src->request_stop();
  } else if (order == 1) {
    src->request_stop();
    *client = t::connect_unix(path);
  } else if (order == 2) {
    src->request_stop();  // and nobody connects: it can only be cancelled
  } else if (order == 3) {
    // Connect, let the loop turn once (the accept usually completes), then stop.
    *client = t::connect_unix(path);
    co_await yield();
    src->request_stop();
  } else {
    *client = t::connect_unix(path);  // and no stop: it can only accept
  }
}

task<void> accept_race_loop(const unix_listener* l, std::string path, std::size_t iterations, race_tally* tally) {
  std::mt19937 rng(t::test_seed(0xacce97));
  for (std::size_t i = 0; i < iterations; ++i) {
    stop_source src;
    op_record rec;
    unix_stream accepted;
    unique_fd client;
    const int order = static_cast<int>(i % 5);
    co_await when_all(accept_recorded(l, src.token(), &rec, &accepted),
                      connect_after(&src, path, &client, static_cast<int>(rng() % 3), order));
    INFO("iteration " << i << ", order " << order);
    REQUIRE(rec.resumed == 1);
    const std::size_t backlog = t::drain_backlog(l->fd());
    if (!rec.error) {
      REQUIRE(accepted.is_open());  // owned by the result
      REQUIRE(order != 2);
      REQUIRE(backlog == 0);
      ++tally->values;
    } else {
      REQUIRE(rec.error == std::errc::operation_canceled);
      REQUIRE(order != 4);
      REQUIRE_FALSE(accepted.is_open());
      REQUIRE(backlog == (order == 2 ? 0u : 1u));  // the connection waits for the next accept
      ++tally->canceled;
    }
  }
}

TEST_CASE("an accept that wins the race against its cancel returns an owned socket; no connection is lost",
          "[cancel][race][accept]") {
  temp_dir dir;
  std::string path = dir.file("listener");
  fd_leak_check leaks;
  auto listener = unix_listener::bind(path).value();
  race_tally tally;
  const std::size_t n = t::scaled(10000, 4);
  run([&]() -> task<void> { co_await accept_race_loop(&listener, path, n, &tally); }());
  tally.print("accept race");
  CHECK(tally.values + tally.canceled == n);
  CHECK(tally.values > 0);
  CHECK(tally.canceled > 0);
}

}  // namespace
