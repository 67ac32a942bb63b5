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
#include <optional>
#include <string_view>
#include <utility>
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

// Every COURING_* variable a child could inherit from the harness (the matrix sets some), and the
// log threshold the harness's COURING_LOG gave this process: the child starts as a fresh process.
void clear_couring_env() {
  for (const char* name : {"COURING_BACKEND", "COURING_URING_HIDE", "COURING_POOL_THREADS", "COURING_LOG",
                           "COURING_EXPECT_FALLBACK"})
    ::unsetenv(name);
  set_log_threshold(log_level::notice);
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

TEST_CASE("a bad COURING_* value is one warning line naming the variable, the value and what it accepts; the config's value stays",
          "[fallback][selection][env]") {
  struct bad {
    const char* name;
    const char* value;
    const char* accepted;  // what the line must say is accepted
  };
  const bad bads[] = {
      {"COURING_BACKEND", "iouring", "auto, io_uring or thread_pool"},
      {"COURING_BACKEND", "THREAD_POOL", "auto, io_uring or thread_pool"},
      {"COURING_BACKEND", "epoll", "auto, io_uring or thread_pool"},
      {"COURING_POOL_THREADS", "0", "from 1 to 4096"},
      {"COURING_POOL_THREADS", "-1", "from 1 to 4096"},
      {"COURING_POOL_THREADS", "eight", "from 1 to 4096"},
      {"COURING_POOL_THREADS", "8x", "from 1 to 4096"},
      {"COURING_POOL_THREADS", "4097", "from 1 to 4096"},
      {"COURING_SHARDS", "0", "from 1 to 1024"},
      {"COURING_SHARDS", " 2", "from 1 to 1024"},
      {"COURING_SHARDS", "99999999999999999999", "from 1 to 1024"},
      {"COURING_URING_HIDE", "read,bogus", "bogus"},
      {"COURING_LOG", "loud", "expected debug, info, notice, warning, error or off"},
      {"COURING_LOG", "Info", "expected debug, info, notice, warning, error or off"},
  };
  std::vector<std::pair<log_level, std::string>> lines;
  set_log_sink([&](log_level level, std::string_view line) { lines.emplace_back(level, std::string(line)); });
  for (const bad& b : bads) {
    INFO(b.name << "=" << b.value);
    scoped_env env(b.name, b.value);
    lines.clear();
    runtime_config mine;
    mine.backend = backend_choice::thread_pool;
    mine.pool_threads = 3;
    mine.shards = 1;
    runtime_config applied;
    REQUIRE_NOTHROW(applied = apply_environment(mine));
    CHECK(applied.backend == backend_choice::thread_pool);
    CHECK(applied.pool_threads == 3);
    CHECK(applied.shards == 1);
    CHECK(applied.uring_hidden_requests.empty());
    if (std::string_view(b.name) == "COURING_LOG") CHECK_FALSE(applied.log_threshold.has_value());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].first == log_level::warning);
    CHECK_THAT(lines[0].second, Catch::StartsWith(std::string(b.name) + "=" + b.value + ": ") &&
                                    Catch::Contains(b.accepted) && Catch::Contains("; using "));
    // A runtime starts with it all the same, on the config's choices.
    runtime_config c;
    c.backend = backend_choice::thread_pool;
    c.pool_threads = 1;
    c.shards = 1;
    std::optional<runtime> rt;
    REQUIRE_NOTHROW(rt.emplace(c));
    CHECK(rt->backend() == backend_kind::thread_pool);
    CHECK(rt->shards() == 1);
  }
  set_log_sink(nullptr);
}

// Run through exec by the logging cases below, so that each starts as a fresh process would: the
// log's threshold, and which lines were already written, are per process.
TEST_CASE("probe: two runtimes on the thread pool they ask for", "[.][probe-log]") {
  for (int i = 0; i < 2; ++i) {
    runtime_config c;
    c.backend = backend_choice::thread_pool;  // the backend line is info: below the default
    c.pool_threads = 1;
    runtime rt(c);
  }
}

TEST_CASE("probe: a runtime whose config routes the log into a sink at info", "[.][probe-log-sink]") {
  std::vector<std::pair<log_level, std::string>> got;
  {
    runtime_config c;
    c.backend = backend_choice::thread_pool;
    c.pool_threads = 1;
    c.shards = 1;
    c.log_threshold = log_level::info;
    c.log_output = [&](log_level level, std::string_view line) { got.emplace_back(level, std::string(line)); };
    runtime rt(c);
  }
  set_log_sink(nullptr);
  for (const auto& [level, line] : got) std::printf("sink: %s: %s\n", log_level_name(level), line.c_str());
}

namespace {
// What a probe run wrote through couring's log: its "couring: " and "sink: " lines (Catch2's own
// output aside). COURING_* variables the matrix sets are cleared unless given.
std::vector<std::string> log_lines_of_probe(const char* probe, std::vector<std::string> env) {
  for (const char* name : {"COURING_BACKEND=", "COURING_URING_HIDE=", "COURING_POOL_THREADS=", "COURING_SHARDS=",
                           "COURING_LOG=", "COURING_EXPECT_FALLBACK="})
    env.insert(env.begin(), name);
  env.push_back("COURING_TEST_NO_BACKEND_CHECK=1");
  auto out = run_program({self_exe(), probe}, env);
  INFO(out.output);
  REQUIRE(out.exited);
  REQUIRE(out.status == 0);
  std::vector<std::string> lines;
  for (const std::string& line : lines_of(out.output))
    if (line.rfind("couring: ", 0) == 0 || line.rfind("sink: ", 0) == 0) lines.push_back(line);
  return lines;
}
}  // namespace

TEST_CASE("a bad COURING_LOG is one warning line, however many runtimes start, and the default threshold is used",
          "[fallback][selection][log]") {
  auto lines = log_lines_of_probe("[probe-log]", {"COURING_LOG=loud"});
  CHECK(lines == std::vector<std::string>{
                     "couring: COURING_LOG=loud: expected debug, info, notice, warning, error or off; using notice"});
}

TEST_CASE("by default a runtime that gets the backend it was asked for says nothing; COURING_LOG=info shows the line",
          "[fallback][selection][log]") {
  CHECK(log_lines_of_probe("[probe-log]", {}).empty());
  CHECK(log_lines_of_probe("[probe-log]", {"COURING_LOG=info"}) ==
        std::vector<std::string>{"couring: using the thread-pool backend (requested)"});
  CHECK(log_lines_of_probe("[probe-log]", {"COURING_LOG=warning"}).empty());
}

TEST_CASE("runtime_config's log sink receives what starting has to say, at the config's threshold; stderr gets nothing",
          "[fallback][selection][log]") {
  CHECK(log_lines_of_probe("[probe-log-sink]", {"COURING_SHARDS=many"}) ==
        std::vector<std::string>{"sink: warning: COURING_SHARDS=many: expected a number from 1 to 1024; using 1",
                                 "sink: info: using the thread-pool backend (requested)"});
}

TEST_CASE("COURING_LOG wins over the config's threshold", "[fallback][selection][log]") {
  CHECK(log_lines_of_probe("[probe-log-sink]", {"COURING_LOG=warning"}).empty());
}

TEST_CASE("COURING_POOL_THREADS sets the most workers the pool starts; with one shard the runtime adds no thread "
          "until work needs a worker",
          "[fallback][selection][env]") {
  scoped_env backend("COURING_BACKEND", "thread_pool");
  scoped_env threads("COURING_POOL_THREADS", "3");
  const std::size_t before = thread_count();
  runtime_config c;
  c.pool_threads = 7;  // the variable wins
  c.shards = 1;        // each further shard would add its own thread
  runtime rt(c);
  CHECK(rt.pool().threads == 3);
  CHECK(thread_count() == before);
  rt.run([]() -> task<void> {
    auto n = co_await nop();  // done on the loop: no worker
    (void)n;
  }());
  CHECK(thread_count() == before);
  CHECK(rt.pool().started == 0);
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
