// Backend selection, never silent: which backend runs, why, how the choice is logged, how it is
// forced, and what a test binary does when the backend it is forced onto cannot run here.
// io_uring is denied by seccomp only inside forked children, so this process stays unaffected.
#include "deny_io_uring.hpp"
#include "fallback_support.hpp"
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::child_outcome;
using couring::testing::expectations;
using couring::testing::in_child;
using couring::testing::lines_of;
using couring::testing::run_program;
using couring::testing::scoped_env;
using couring::testing::self_exe;
using couring::testing::stderr_capture;
using couring::testing::temp_dir;
using couring::testing::thread_count;

#ifndef COURING_DENY_LAUNCHER
#error "tests/fallback/meson.build passes the path of the deny-io-uring launcher"
#endif

namespace {

// Every COURING_* variable a child could inherit from the harness (the matrix sets some).
void clear_couring_env() {
  for (const char* name : {"COURING_BACKEND", "COURING_URING_HIDE", "COURING_POOL_THREADS", "COURING_LOG",
                           "COURING_EXPECT_FALLBACK"})
    ::unsetenv(name);
}

std::string errno_name(int err) { return err == ENOSYS ? "ENOSYS" : "EPERM"; }

// Whether this machine runs io_uring at all (some checks only make sense where it does).
bool io_uring_runs_here() {
  scoped_env backend("COURING_BACKEND", nullptr);
  scoped_env hide("COURING_URING_HIDE", nullptr);
  runtime_config c;
  c.backend = backend_choice::io_uring;
  c.pool_threads = 1;
  try {
    runtime rt(c);
    return true;
  } catch (const std::system_error& e) {
    if (e.code() == error::backend_unavailable) return false;
    throw;
  }
}

// A file round trip and a sleep: proof that the runtime that was chosen does I/O.
task<std::string> smoke_io(std::string path) {
  auto f = co_await file::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (!f) co_return "open: " + f.error().message();
  std::string text = "fallback";
  auto w = co_await f->write_at(const_buffer_of(text), 0);
  if (!w || *w != text.size()) co_return "write_at failed";
  std::array<char, 16> back{};
  auto r = co_await f->read_at(buffer(back), 0);
  if (!r || std::string(back.data(), *r) != text) co_return "read_at did not return what was written";
  auto slept = co_await sleep_for(std::chrono::milliseconds(1));
  if (!slept) co_return "sleep_for: " + slept.error().message();
  co_return std::string();
}

}  // namespace

// Run by the children below through exec: reports the backend this process got.
TEST_CASE("probe: the backend this process runs on", "[.][probe]") {
  runtime rt;
  std::printf("probe-backend: %s | %s\n", backend_name(rt.backend()), rt.backend_reason().c_str());
}

TEST_CASE("with io_uring denied by seccomp, automatic selection falls back to the thread pool and names the cause",
          "[fallback][selection]") {
  const int err = GENERATE(ENOSYS, EPERM);
  INFO("io_uring denied with " << errno_name(err));
  child_outcome out = in_child([err]() -> std::string {
    clear_couring_env();
    ::setenv("COURING_LOG", "quiet", 1);
    if (int r = couring::testing::deny_io_uring(err); r < 0)
      return std::string("cannot install the seccomp filter: ") + std::strerror(-r);
    expectations e;
    runtime_config c;
    c.pool_threads = 2;
    runtime rt(c);
    e.check(rt.backend() == backend_kind::thread_pool, "automatic selection chose the thread pool");
    e.contains(rt.backend_reason(), "io_uring unavailable", "backend_reason()");
    e.contains(rt.backend_reason(), "io_uring_setup", "backend_reason()");
    e.contains(rt.backend_reason(), std::strerror(err), "backend_reason()");
    e.contains(rt.format_stats(), rt.backend_reason(), "format_stats()");
    temp_dir dir;
    std::string smoke = rt.run(smoke_io(dir.file("smoke")));
    e.check(smoke.empty(), "I/O works on the fallback: " + smoke);
    return e.failures();
  });
  REQUIRE(out.exited);
  CHECK(out.status == 0);
  CHECK(out.report == "");
}

TEST_CASE("forcing io_uring where seccomp denies it fails with backend_unavailable naming the cause",
          "[fallback][selection]") {
  const int err = GENERATE(ENOSYS, EPERM);
  INFO("io_uring denied with " << errno_name(err));
  child_outcome out = in_child([err]() -> std::string {
    clear_couring_env();
    ::setenv("COURING_LOG", "quiet", 1);
    if (int r = couring::testing::deny_io_uring(err); r < 0)
      return std::string("cannot install the seccomp filter: ") + std::strerror(-r);
    expectations e;
    auto forced = [&](runtime_config c, const std::string& how) {
      c.pool_threads = 1;
      try {
        runtime rt(c);
        e.check(false, how + ": the runtime should not start (it runs " + backend_name(rt.backend()) + ")");
      } catch (const std::system_error& ex) {
        e.check(ex.code() == error::backend_unavailable, how + ": the error is couring::error::backend_unavailable");
        e.check(ex.code() == std::errc::function_not_supported, how + ": it compares equal to function_not_supported");
        e.contains(ex.what(), "io_uring was requested", how + ": what()");
        e.contains(ex.what(), "io_uring_setup", how + ": what()");
        e.contains(ex.what(), std::strerror(err), how + ": what()");
      }
    };
    runtime_config by_config;
    by_config.backend = backend_choice::io_uring;
    forced(by_config, "runtime_config::backend = io_uring");
    // The environment wins over the config, whichever way the config points.
    ::setenv("COURING_BACKEND", "io_uring", 1);
    runtime_config pool_config;
    pool_config.backend = backend_choice::thread_pool;
    forced(pool_config, "COURING_BACKEND=io_uring over a thread_pool config");
    return e.failures();
  });
  REQUIRE(out.exited);
  CHECK(out.status == 0);
  CHECK(out.report == "");
}

TEST_CASE("the fallback is logged as one line on stderr, once, however many runtimes start",
          "[fallback][selection][log]") {
  const int err = GENERATE(ENOSYS, EPERM);
  INFO("io_uring denied with " << errno_name(err));
  child_outcome out = in_child([err]() -> std::string {
    clear_couring_env();
    if (int r = couring::testing::deny_io_uring(err); r < 0)
      return std::string("cannot install the seccomp filter: ") + std::strerror(-r);
    expectations e;
    stderr_capture capture;
    for (int i = 0; i < 3; ++i) {
      runtime_config c;
      c.pool_threads = 1;
      runtime rt(c);
      rt.run([]() -> task<void> {
    auto n = co_await nop();
    (void)n;
  }());
    }
    auto lines = lines_of(capture.finish());
    e.check(lines.size() == 1, "exactly one line on stderr, got " + std::to_string(lines.size()));
    if (lines.empty()) return e.failures();
    const std::string& line = lines.front();
    e.check(line.rfind("couring: io_uring unavailable (io_uring_setup: ", 0) == 0,
            "the line starts with the cause: " + line);
    e.contains(line, std::strerror(err), "the log line");
    const std::string tail = "; using the thread-pool backend";
    e.check(line.size() > tail.size() && line.compare(line.size() - tail.size(), tail.size(), tail) == 0,
            "the line ends with the choice: " + line);
    return e.failures();
  });
  REQUIRE(out.exited);
  CHECK(out.status == 0);
  CHECK(out.report == "");
}

TEST_CASE("COURING_LOG=quiet silences the backend line", "[fallback][selection][log]") {
  child_outcome out = in_child([]() -> std::string {
    clear_couring_env();
    ::setenv("COURING_LOG", "quiet", 1);
    if (int r = couring::testing::deny_io_uring(EPERM); r < 0)
      return std::string("cannot install the seccomp filter: ") + std::strerror(-r);
    expectations e;
    stderr_capture capture;
    {
      runtime_config c;
      c.pool_threads = 1;
      runtime rt(c);
      e.check(rt.backend() == backend_kind::thread_pool, "the fallback was still chosen");
      e.contains(rt.backend_reason(), "io_uring_setup", "backend_reason() (quiet only silences the log)");
    }
    std::string written = capture.finish();
    e.check(written.empty(), "nothing on stderr, got: " + written);
    return e.failures();
  });
  REQUIRE(out.exited);
  CHECK(out.report == "");
}

TEST_CASE("each distinct backend choice is logged once per process, even when choices alternate",
          "[fallback][selection][log]") {
  if (!io_uring_runs_here()) {
    WARN("io_uring does not run on this machine: no two distinct choices to alternate between");
    return;
  }
  child_outcome out = in_child([]() -> std::string {
    clear_couring_env();
    expectations e;
    stderr_capture capture;
    // Emulated kinds this process never asked for before, so both lines are new to it.
    for (int round = 0; round < 3; ++round) {
      for (const char* hidden : {"mkdirat", "renameat"}) {
        runtime_config c;
        c.backend = backend_choice::io_uring;
        c.uring_hidden_requests = {hidden};
        c.pool_threads = 1;
        runtime rt(c);
      }
    }
    auto lines = lines_of(capture.finish());
    e.check(lines.size() == 2, "two lines (one per distinct choice), got " + std::to_string(lines.size()));
    if (lines.size() == 2) {
      e.contains(lines[0], "emulated: mkdirat)", "the first line");
      e.contains(lines[1], "emulated: renameat)", "the second line");
    }
    return e.failures();
  });
  REQUIRE(out.exited);
  CHECK(out.report == "");
}

TEST_CASE("where io_uring runs, its line and reason name the ring and the emulated request kinds",
          "[fallback][selection][log]") {
  if (!io_uring_runs_here()) {
    WARN("io_uring does not run on this machine: nothing to check here");
    return;
  }
  child_outcome out = in_child([]() -> std::string {
    clear_couring_env();
    expectations e;
    stderr_capture capture;
    std::string reason;
    {
      runtime_config c;
      c.pool_threads = 1;
      c.uring_hidden_requests = {"statx"};
      runtime rt(c);
      e.check(rt.backend() == backend_kind::io_uring, "automatic selection chose io_uring");
      reason = rt.backend_reason();
    }
    auto lines = lines_of(capture.finish());
    e.check(lines.size() == 1, "one line, got " + std::to_string(lines.size()));
    if (!lines.empty()) {
      e.contains(lines[0], "couring: using the io_uring backend (ring: ", "the log line");
      e.contains(lines[0], "emulated: statx)", "the log line");
    }
    e.contains(reason, "io_uring available (ring: ", "backend_reason()");
    e.contains(reason, "emulated request kinds: statx)", "backend_reason()");
    return e.failures();
  });
  REQUIRE(out.exited);
  CHECK(out.report == "");
}

TEST_CASE("COURING_BACKEND accepts every documented spelling and wins over the config", "[fallback][selection][env]") {
  struct spelling {
    const char* value;
    backend_choice expected;
  };
  const spelling spellings[] = {
      {"auto", backend_choice::automatic},       {"automatic", backend_choice::automatic},
      {"io_uring", backend_choice::io_uring},    {"uring", backend_choice::io_uring},
      {"thread_pool", backend_choice::thread_pool}, {"pool", backend_choice::thread_pool},
  };
  for (const spelling& s : spellings) {
    INFO("COURING_BACKEND=" << s.value);
    scoped_env env("COURING_BACKEND", s.value);
    for (backend_choice configured : {backend_choice::automatic, backend_choice::io_uring, backend_choice::thread_pool}) {
      runtime_config c;
      c.backend = configured;
      CHECK(apply_environment(c).backend == s.expected);
    }
  }
  SECTION("unset or empty, the config decides") {
    for (const char* value : {static_cast<const char*>(nullptr), ""}) {
      scoped_env env("COURING_BACKEND", value);
      runtime_config c;
      c.backend = backend_choice::thread_pool;
      CHECK(apply_environment(c).backend == backend_choice::thread_pool);
    }
  }
  SECTION("the runtime follows the variable") {
    scoped_env env("COURING_BACKEND", "thread_pool");
    runtime_config c;
    c.backend = backend_choice::io_uring;
    c.pool_threads = 1;
    runtime rt(c);
    CHECK(rt.backend() == backend_kind::thread_pool);
    CHECK(rt.backend_reason() == "thread pool requested");
  }
}

TEST_CASE("a bad COURING_* value is a clear std::invalid_argument", "[fallback][selection][env]") {
  struct bad {
    const char* name;
    const char* value;
  };
  const bad bads[] = {
      {"COURING_BACKEND", "iouring"},      {"COURING_BACKEND", "THREAD_POOL"}, {"COURING_BACKEND", "epoll"},
      {"COURING_POOL_THREADS", "0"},       {"COURING_POOL_THREADS", "-1"},     {"COURING_POOL_THREADS", "eight"},
      {"COURING_POOL_THREADS", "8x"},      {"COURING_POOL_THREADS", "4097"},   {"COURING_URING_HIDE", "read,bogus"},
  };
  for (const bad& b : bads) {
    INFO(b.name << "=" << b.value);
    scoped_env env(b.name, b.value);
    std::string message;
    try {
      (void)apply_environment(runtime_config{});
    } catch (const std::invalid_argument& e) {
      message = e.what();
    }
    CHECK_THAT(message, Catch::Contains(b.name) && Catch::Contains(b.value));
    // The runtime reports it the same way, before starting anything.
    runtime_config c;
    c.pool_threads = 1;
    CHECK_THROWS_AS(runtime(c), std::invalid_argument);
  }
}

TEST_CASE("COURING_POOL_THREADS sets the worker count; with one shard the workers are all the threads the runtime adds",
          "[fallback][selection][env]") {
  scoped_env backend("COURING_BACKEND", "thread_pool");
  scoped_env threads("COURING_POOL_THREADS", "3");
  const std::size_t before = thread_count();
  runtime_config c;
  c.pool_threads = 7;  // the variable wins
  c.shards = 1;        // each further shard would add its own thread
  runtime rt(c);
  CHECK(rt.pool().threads == 3);
  CHECK(thread_count() == before + 3);
  rt.run([]() -> task<void> {
    auto n = co_await nop();
    (void)n;
  }());
  CHECK(thread_count() == before + 3);
}

TEST_CASE("a test binary forced onto io_uring where it is denied exits 77, which meson reports as SKIP",
          "[fallback][selection][harness]") {
  const int err = GENERATE(ENOSYS, EPERM);
  INFO("io_uring denied with " << errno_name(err));
  const std::string exe = self_exe();
  SECTION("denied in-process, as a container profile does") {
    auto out =
        run_program({exe, "[probe]"}, {"COURING_BACKEND=io_uring", "COURING_EXPECT_FALLBACK=", "COURING_LOG=quiet"}, err);
    INFO(out.output);
    REQUIRE(out.exited);
    CHECK(out.status == 77);
    CHECK_THAT(out.output, Catch::Contains("SKIP: io_uring was requested but io_uring_setup: ") &&
                               Catch::Contains(std::strerror(err)));
  }
  SECTION("denied by the matrix's launcher") {
    auto out = run_program({COURING_DENY_LAUNCHER, errno_name(err), exe, "[probe]"},
                           {"COURING_BACKEND=io_uring", "COURING_EXPECT_FALLBACK=", "COURING_LOG=quiet"});
    INFO(out.output);
    REQUIRE(out.exited);
    CHECK(out.status == 77);
    CHECK_THAT(out.output, Catch::Contains("SKIP: io_uring was requested but io_uring_setup: "));
  }
}

TEST_CASE("under the launcher, automatic selection falls back and the binary's own check confirms it",
          "[fallback][selection][harness]") {
  const int err = GENERATE(ENOSYS, EPERM);
  INFO("io_uring denied with " << errno_name(err));
  auto out = run_program({COURING_DENY_LAUNCHER, errno_name(err), self_exe(), "[probe]"},
                         {"COURING_BACKEND=auto", "COURING_EXPECT_FALLBACK=1", "COURING_LOG=quiet",
                          "COURING_URING_HIDE="});
  INFO(out.output);
  REQUIRE(out.exited);
  CHECK(out.status == 0);
  CHECK_THAT(out.output, Catch::Contains("probe-backend: thread_pool | io_uring unavailable (io_uring_setup: ") &&
                             Catch::Contains(std::strerror(err)));
}

TEST_CASE("the harness fails a denied run whose backend did not fall back", "[fallback][selection][harness]") {
  if (!io_uring_runs_here()) {
    WARN("io_uring does not run on this machine: automatic selection always falls back here");
    return;
  }
  // Not denied, yet told to expect the fallback: the binary must refuse to pass.
  auto out = run_program({self_exe(), "[probe]"},
                         {"COURING_BACKEND=auto", "COURING_EXPECT_FALLBACK=1", "COURING_LOG=quiet", "COURING_URING_HIDE="});
  INFO(out.output);
  REQUIRE(out.exited);
  CHECK(out.status == 1);
  CHECK_THAT(out.output, Catch::Contains("FAIL: io_uring is denied, yet automatic selection did not fall back"));
}
