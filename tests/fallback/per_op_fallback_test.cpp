// The per-op fallback: when io_uring lacks an opcode (here: hidden by configuration, since the
// kernel of this machine has them all), that request kind is executed by the POSIX-AIO
// emulation with results identical to the native path, and counted per request kind.
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // the listener that skips the binary without io_uring
#include "fallback_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::scoped_env;
using couring::testing::temp_dir;

namespace {

// Every test here compares against native io_uring: without it the whole binary is skipped.
class require_io_uring : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testRunStarting(const Catch::TestRunInfo&) override {
    scoped_env backend("COURING_BACKEND", nullptr);
    runtime_config c;
    c.backend = backend_choice::io_uring;
    c.pool_threads = 1;
    try {
      runtime rt(c);
    } catch (const std::system_error& e) {
      std::printf("SKIP: the per-op fallback is a feature of the io_uring backend: %s\n", e.what());
      std::fflush(stdout);
      std::exit(77);
    }
  }
};
CATCH_REGISTER_LISTENER(require_io_uring)

std::size_t kind_of(const char* name) {
  for (std::size_t k = 0; k < request_kinds; ++k) {
    if (std::string(request_name(k)) == name) return k;
  }
  FAIL("no request kind named " << name);
  return request_kinds;
}

// What io_uring had in Linux 5.1 (nop, readv, writev, fsync, poll_add; read/write_fixed and
// poll_remove are not requests of ours). Timeouts arrived in 5.4 and are required by the backend.
const std::set<std::string> linux_5_1 = {"nop", "readv", "writev", "read_fixed", "write_fixed", "fsync", "poll", "timeout"};

std::vector<std::string> all_but(const std::set<std::string>& keep) {
  std::vector<std::string> hidden;
  for (std::size_t k = 0; k < request_kinds; ++k) {
    if (!keep.count(request_name(k))) hidden.emplace_back(request_name(k));
  }
  return hidden;
}

// Kinds io_uring has no opcode for (locks, offload): they run on the workers on every backend and
// are never counted as fallbacks.
bool always_on_workers(std::size_t k) {
  std::string name = request_name(k);
  return name == "flock" || name == "offload";
}

// Multishot kinds are used only where io_uring runs them natively; elsewhere the streams loop
// over accept and recv instead (tests/uring covers both), so this tour does not submit them.
bool stream_only(std::size_t k) {
  std::string name = request_name(k);
  return name == "accept_multishot" || name == "recv_multishot";
}

template <class T>
std::string outcome(const result<T>& r) {
  if (!r) return "error " + r.error().message();
  if constexpr (std::is_same_v<T, std::size_t> || std::is_same_v<T, unsigned>) return std::to_string(*r);
  else return "ok";
}

// A tour of every request kind, with its edge cases, written down as a transcript: the same
// transcript must come out of every path. Descriptor numbers are never written down.
task<std::vector<std::string>> tour(std::string dir) {
  std::vector<std::string> t;
  auto note = [&t](const std::string& what, const std::string& how) { t.push_back(what + ": " + how); };
  const std::string path = dir + "/data";

  auto opened = co_await couring::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  note("openat", outcome(opened));
  REQUIRE(opened);
  const int fd = opened->get();

  std::string hello = "hello world";
  auto w1 = co_await write_at(fd, const_buffer_of(hello), 0);
  note("write_at", outcome(w1));
  std::string abc = "ABC";
  auto w2 = co_await couring::write(fd, const_buffer_of(abc));  // current position: 0
  note("write at the current position", outcome(w2));
  std::array<char, 64> buf{};
  auto r1 = co_await couring::read(fd, buffer(buf.data(), 4));  // current position: 3
  note("read at the current position", outcome(r1) + " " + std::string(buf.data(), r1 ? *r1 : 0));
  auto r2 = co_await read_at(fd, buffer(buf), 6);
  note("read_at across EOF", outcome(r2) + " " + std::string(buf.data(), r2 ? *r2 : 0));
  auto r3 = co_await read_at(fd, buffer(buf), 11);
  note("read_at at EOF", outcome(r3));

  std::array<char, 4> v1{}, v2{};
  std::array<iovec, 2> iov{{{v1.data(), v1.size()}, {v2.data(), v2.size()}}};
  auto rv = co_await readv(fd, iov, 0);
  note("readv", outcome(rv) + " " + std::string(v1.data(), 4) + std::string(v2.data(), 4));
  std::string bang = "!!", ask = "??";
  std::array<iovec, 2> wiov{{{bang.data(), 2}, {ask.data(), 2}}};
  auto wv = co_await writev(fd, wiov, 11);
  note("writev", outcome(wv));

  auto s1 = co_await couring::fsync(fd);
  note("fsync", outcome(s1));
  auto s2 = co_await couring::fdatasync(fd);
  note("fdatasync", outcome(s2));
  auto fa = co_await couring::fallocate(fd, 0, 0, 4096);
  note("fallocate", outcome(fa));
  auto st1 = co_await fstatx(fd);
  note("statx size after fallocate", st1 ? std::to_string(st1->stx_size) : outcome(st1));
  auto adv = co_await couring::fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  note("fadvise", outcome(adv));
  auto tr = co_await couring::ftruncate(fd, 15);
  note("ftruncate", outcome(tr));
  auto st2 = co_await fstatx(fd);
  note("statx size after ftruncate", st2 ? std::to_string(st2->stx_size) : outcome(st2));
  auto whole = co_await read_at(fd, buffer(buf), 0);
  note("contents", outcome(whole) + " " + std::string(buf.data(), whole ? *whole : 0));

  std::array<char, 16> pinned{};
  fixed_buffers registered({buffer(pinned)});
  auto wf = co_await registered.write_at(fd, 0, 20, 4);  // four NULs past the end
  note("write from a registered buffer", outcome(wf));
  auto rf = co_await registered.read_at(fd, 0, 0);
  note("read into a registered buffer", outcome(rf) + " " + std::string(pinned.data(), rf ? *rf : 0));
  file_table table(2);
  auto slot = table.install(fd);
  REQUIRE(slot);
  auto rs = co_await table.read_at(*slot, buffer(buf.data(), 5), 0);
  note("read_at through a table slot", outcome(rs) + " " + std::string(buf.data(), rs ? *rs : 0));

  const std::string sub = dir + "/sub", moved = dir + "/sub/moved";
  auto mk = co_await couring::mkdir(sub.c_str());
  note("mkdirat", outcome(mk));
  auto mk2 = co_await couring::mkdir(sub.c_str());
  note("mkdirat again", outcome(mk2));
  auto rn = co_await couring::rename(path.c_str(), moved.c_str());
  note("renameat", outcome(rn));
  auto ul_gone = co_await couring::unlink(path.c_str());
  note("unlinkat of the old name", outcome(ul_gone));
  auto missing = co_await couring::open((dir + "/missing").c_str(), O_RDONLY);
  note("openat of a missing path", outcome(missing));
  auto st_missing = co_await couring::statx(AT_FDCWD, (dir + "/missing").c_str());
  note("statx of a missing path", outcome(st_missing));
  auto dirfd = co_await couring::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  note("openat of a directory", outcome(dirfd));
  if (dirfd) {
    auto isdir = co_await couring::read(dirfd->get(), buffer(buf));
    note("read of a directory", outcome(isdir));
  }
  auto notsock = co_await recv(fd, buffer(buf));
  note("recv on a file", outcome(notsock));

  auto locked = co_await couring::lock(fd, lock_mode::exclusive);
  note("flock", outcome(locked));
  auto unlocked = couring::unlock(fd);
  note("unlock", outcome(unlocked));
  int answer = co_await offload([] { return 42; });
  note("offload", std::to_string(answer));

  int p1[2], p2[2];
  REQUIRE(::pipe2(p1, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(p2, O_CLOEXEC) == 0);
  unique_fd p1r(p1[0]), p1w(p1[1]), p2r(p2[0]), p2w(p2[1]);
  auto spliced = co_await couring::splice(fd, 0, p1w.get(), current_position, 5);
  note("splice from the file into a pipe", outcome(spliced));
  auto teed = co_await couring::tee(p1r.get(), p2w.get(), 5);
  note("tee into a second pipe", outcome(teed));
  auto drained = co_await couring::read(p2r.get(), buffer(buf));
  note("the tee'd bytes", outcome(drained) + " " + std::string(buf.data(), drained ? *drained : 0));
  auto bad_splice = co_await couring::splice(fd, 0, fd, 0, 5);
  note("splice between two files", outcome(bad_splice));

  auto cl = co_await couring::close(std::move(*opened));
  note("close", outcome(cl));
  auto cl2 = co_await couring::close(fd);  // the number is closed now (nothing opened since)
  note("close of a closed fd", outcome(cl2));
  auto ul = co_await couring::unlink(moved.c_str());
  note("unlinkat", outcome(ul));
  auto rm = co_await couring::rmdir(sub.c_str());
  note("unlinkat of a directory", outcome(rm));

  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(listener);
  auto at = listener->local_endpoint();
  REQUIRE(at);
  auto sock = co_await couring::socket(AF_INET, SOCK_STREAM);
  note("socket", outcome(sock));
  REQUIRE(sock);
  auto conn = co_await couring::connect(sock->get(), at->data(), at->size());
  note("connect", outcome(conn));
  auto accepted = co_await couring::accept(listener->fd());
  note("accept", outcome(accepted));
  REQUIRE(accepted);
  std::string ping = "ping";
  auto sent = co_await send(sock->get(), const_buffer_of(ping));
  note("send", outcome(sent));
  auto got = co_await recv(accepted->get(), buffer(buf));
  note("recv", outcome(got) + " " + std::string(buf.data(), got ? *got : 0));
  std::string zc = "zero-copy";
  auto zc_sent = co_await send_zc(sock->get(), const_buffer_of(zc));
  note("send_zc", outcome(zc_sent));
  auto zc_got = co_await recv_exactly(accepted->get(), buffer(buf.data(), zc.size()));
  note("the zero-copy bytes", outcome(zc_got) + " " + std::string(buf.data(), zc.size()));
  auto writable = co_await couring::poll(sock->get(), POLLOUT);
  note("poll for POLLOUT", outcome(writable));
  auto shut = co_await couring::shutdown(sock->get(), SHUT_WR);
  note("shutdown", outcome(shut));
  auto eof = co_await recv(accepted->get(), buffer(buf));
  note("recv after the peer's shutdown", outcome(eof));
  auto readable = co_await couring::poll(accepted->get(), POLLIN);
  note("poll for POLLIN at EOF", outcome(readable));

  auto closed_listener = tcp_listener::bind(endpoint::loopback_v4(0));
  REQUIRE(closed_listener);
  auto refused_at = closed_listener->local_endpoint();
  REQUIRE(refused_at);
  auto closing = co_await closed_listener->close();
  note("close of a listener", outcome(closing));
  auto sock2 = co_await couring::socket(AF_INET, SOCK_STREAM);
  REQUIRE(sock2);
  auto refused = co_await couring::connect(sock2->get(), refused_at->data(), refused_at->size());
  note("connect to a closed port", outcome(refused));

  auto n = co_await nop();
  note("nop", outcome(n));
  auto slept = co_await sleep_for(std::chrono::microseconds(100));
  note("sleep", outcome(slept));
  co_return t;
}

struct tour_run {
  std::vector<std::string> transcript;
  backend_kind kind;
  std::string reason;
  backend_stats stats;
};

tour_run run_tour(runtime_config c) {
  temp_dir dir;
  c.pool_threads = 2;
  runtime rt(std::move(c));
  tour_run out;
  out.transcript = rt.run(tour(dir.path()));
  out.kind = rt.backend();
  out.reason = rt.backend_reason();
  out.stats = rt.stats();
  return out;
}

runtime_config uring_hiding(std::vector<std::string> hidden) {
  runtime_config c;
  c.backend = backend_choice::io_uring;
  c.uring_hidden_requests = std::move(hidden);
  return c;
}

}  // namespace

TEST_CASE("request kinds have distinct names, indexed like the request variant", "[fallback][per-op]") {
  std::set<std::string> names;
  for (std::size_t k = 0; k < request_kinds; ++k) names.insert(request_name(k));
  CHECK(names.size() == request_kinds);
  CHECK(names.count("?") == 0);
  CHECK(std::string(request_name(request_kinds)) == "?");
  CHECK(kind_of("nop") == request(nop_req{}).index());
  CHECK(kind_of("recv") == request(recv_req{}).index());
  CHECK(kind_of("timeout") == request(timeout_req{}).index());
}

TEST_CASE("with a Linux 5.1 opcode set, every op gives the native result and each emulated kind is counted",
          "[fallback][per-op]") {
  scoped_env backend("COURING_BACKEND", nullptr);
  scoped_env hide("COURING_URING_HIDE", nullptr);
  tour_run native = run_tour(uring_hiding({}));
  tour_run old_kernel = run_tour(uring_hiding(all_but(linux_5_1)));
  runtime_config pool;
  pool.backend = backend_choice::thread_pool;
  tour_run thread_pool = run_tour(pool);

  REQUIRE(native.kind == backend_kind::io_uring);
  REQUIRE(old_kernel.kind == backend_kind::io_uring);
  REQUIRE(thread_pool.kind == backend_kind::thread_pool);
  CHECK(old_kernel.transcript == native.transcript);
  CHECK(thread_pool.transcript == native.transcript);
  CHECK_THAT(native.reason, Catch::Contains("emulated request kinds: none"));

  std::size_t emulated_total = 0;
  for (std::size_t k = 0; k < request_kinds; ++k) {
    INFO("request kind " << request_name(k));
    CHECK(native.stats.fallbacks[k] == 0);
    CHECK(old_kernel.stats.submitted[k] == native.stats.submitted[k]);
    if (linux_5_1.count(request_name(k)) || always_on_workers(k)) {
      CHECK(old_kernel.stats.fallbacks[k] == 0);  // present in 5.1: stays native
      CHECK_THAT(old_kernel.reason, !Catch::Contains(std::string(",") + request_name(k) + ","));
    } else {
      CHECK(old_kernel.stats.fallbacks[k] == old_kernel.stats.submitted[k]);
      emulated_total += old_kernel.stats.fallbacks[k];
    }
  }
  // The tour does use every kind; the counts above are not vacuous.
  for (std::size_t k = 0; k < request_kinds; ++k) {
    INFO("request kind " << request_name(k));
    if (!stream_only(k)) CHECK(native.stats.submitted[k] > 0);
  }
  CHECK(emulated_total > 30);
}

TEST_CASE("hiding \"all\" emulates every request kind but timeouts, which the backend requires natively",
          "[fallback][per-op]") {
  scoped_env backend("COURING_BACKEND", nullptr);
  scoped_env hide("COURING_URING_HIDE", nullptr);
  tour_run native = run_tour(uring_hiding({}));
  tour_run emulated = run_tour(uring_hiding({"all"}));
  CHECK(emulated.transcript == native.transcript);
  const std::size_t timeout = kind_of("timeout");
  for (std::size_t k = 0; k < request_kinds; ++k) {
    INFO("request kind " << request_name(k));
    if (stream_only(k)) {
      CHECK(emulated.stats.submitted[k] == 0);
    } else if (k == timeout || always_on_workers(k)) {
      CHECK(emulated.stats.fallbacks[k] == 0);
      CHECK(emulated.stats.submitted[k] > 0);
    } else {
      CHECK(emulated.stats.fallbacks[k] == emulated.stats.submitted[k]);
    }
  }
  CHECK_THAT(emulated.reason, !Catch::Contains("timeout"));
}

TEST_CASE("the reason and the statistics name the emulated kinds; the variable adds to the config",
          "[fallback][per-op]") {
  scoped_env backend("COURING_BACKEND", nullptr);
  scoped_env hide("COURING_URING_HIDE", "recv,read");
  runtime_config c = uring_hiding({"statx"});
  c.pool_threads = 1;
  runtime rt(c);
  REQUIRE(rt.backend() == backend_kind::io_uring);
  CHECK_THAT(rt.backend_reason(), Catch::Contains("emulated request kinds: read,statx,recv)"));
  rt.run([]() -> task<void> {
    std::array<char, 8> buf{};
    auto r = co_await couring::read(-1, buffer(buf));  // settled before any backend: not counted
    CHECK_FALSE(r);
    auto st = co_await couring::statx(AT_FDCWD, "/");
    CHECK(st);
    auto n = co_await nop();
    CHECK(n);
  }());
  CHECK(rt.stats().fallbacks[kind_of("statx")] == 1);
  CHECK(rt.stats().fallbacks[kind_of("read")] == 0);
  CHECK(rt.stats().fallbacks[kind_of("nop")] == 0);
  CHECK(rt.stats().submitted[kind_of("nop")] == 1);
  CHECK_THAT(rt.format_stats(), Catch::Contains("statx") && Catch::Contains("emulated"));
}

TEST_CASE("an unknown request kind to hide is rejected by name", "[fallback][per-op]") {
  scoped_env backend("COURING_BACKEND", nullptr);
  scoped_env hide("COURING_URING_HIDE", nullptr);
  runtime_config c = uring_hiding({"read", "reed"});
  c.pool_threads = 1;
  try {
    runtime rt(c);
    FAIL("the runtime started with an unknown request kind to hide");
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::Contains("\"reed\""));
  }
}

TEST_CASE("an emulated recv waiting for data is cancelled at once; the socket then serves the next recv",
          "[fallback][per-op][cancel]") {
  scoped_env backend("COURING_BACKEND", nullptr);
  scoped_env hide("COURING_URING_HIDE", nullptr);
  runtime_config c = uring_hiding({"recv"});
  c.pool_threads = 1;
  runtime rt(c);
  REQUIRE(rt.backend() == backend_kind::io_uring);
  couring::testing::op_record waiting, next;
  couring::testing::counter done;
  std::array<char, 8> buf{};
  buf.fill('#');
  rt.run([&]() -> task<void> {
    auto pair = unix_stream::pair();
    REQUIRE(pair);
    auto& [a, b] = *pair;
    stop_source src;
    const int fd = a.fd();
    spawn(couring::testing::record([fd, &buf] { return recv(fd, buffer(buf)); }, {src.token()}, &waiting, &done));
    co_await yield();  // it is waiting for readiness now
    CHECK(done.value() == 0);
    src.request_stop();
    co_await done.at_least(1);
    CHECK(waiting.resumed == 1);
    CHECK(waiting.res == -ECANCELED);
    CHECK(buf[0] == '#');
    spawn(couring::testing::record([fd, &buf] { return recv(fd, buffer(buf)); }, {}, &next, &done));
    std::string x = "x";
    auto sent = co_await b.send(const_buffer_of(x));
    REQUIRE(sent);
    co_await done.at_least(2);
    CHECK(next.res == 1);
    CHECK(buf[0] == 'x');
  }());
  CHECK(waiting.resumed == 1);
  CHECK(next.resumed == 1);
  CHECK(rt.stats().fallbacks[kind_of("recv")] == 2);
}
