// The main() of every test binary.
//  - A binary forced onto a backend this machine cannot run (COURING_BACKEND=io_uring without
//    io_uring) exits 77, which meson reports as SKIP.
//  - With COURING_EXPECT_FALLBACK=1 (the seccomp-denied runs) it first proves that automatic
//    selection fell back to the thread pool and reported why; otherwise the binary fails.
//  - It prints one line, "couring-test-summary: N passed, M failed", counting Catch2 test cases,
//    which .ci/run sums over meson's test log.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <couring/errors.hpp>
#include <couring/runtime.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

class summary_listener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    if (stats.totals.assertions.failed > 0) ++failed_; else ++passed_;
  }
  void testRunEnded(const Catch::TestRunStats&) override {
    std::printf("couring-test-summary: %zu passed, %zu failed\n", passed_, failed_);
    std::fflush(stdout);
  }

 private:
  std::size_t passed_ = 0;
  std::size_t failed_ = 0;
};

// Returns an exit code to end with, or -1 to go on with the tests.
int check_backend() {
  bool expect_fallback = std::getenv("COURING_EXPECT_FALLBACK") != nullptr;
  try {
    couring::runtime probe;
    std::printf("backend: %s (%s)\n", couring::backend_name(probe.backend()), probe.backend_reason().c_str());
    if (expect_fallback) {
      if (probe.backend() != couring::backend_kind::thread_pool ||
          probe.backend_reason().find("io_uring unavailable") == std::string::npos) {
        std::printf("FAIL: io_uring is denied, yet automatic selection did not fall back with a reason\n");
        return 1;
      }
    }
  } catch (const std::system_error& e) {
    if (e.code() == couring::error::backend_unavailable) {
      std::printf("SKIP: %s\n", e.what());
      return 77;
    }
    std::printf("FAIL: runtime setup: %s\n", e.what());
    return 1;
  }
  return -1;
}

}  // namespace

CATCH_REGISTER_LISTENER(summary_listener)

int main(int argc, char** argv) {
  // Set by tests that exec this binary to see what a fresh process logs: the check's own runtime
  // would log first (and a process logs each line once).
  const bool check = std::getenv("COURING_TEST_NO_BACKEND_CHECK") == nullptr;
  if (int code = check ? check_backend() : -1; code >= 0) return code;
  return Catch::Session().run(argc, argv);
}
