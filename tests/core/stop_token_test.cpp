// stop_source / stop_token / stop_callback: the single-thread cancellation signal.
#include <couring/stop_token.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <optional>
#include <vector>

using namespace couring;

TEST_CASE("a default token can never be stopped", "[core][stop_token]") {
  stop_token t;
  CHECK_FALSE(t.stop_possible());
  CHECK_FALSE(t.stop_requested());
  int called = 0;
  stop_callback cb(t, [&] { ++called; });
  CHECK(called == 0);
}

TEST_CASE("request_stop runs each registered callback once, newest first, and reports the first request only",
          "[core][stop_token]") {
  stop_source src;
  stop_token t = src.token();
  CHECK(t.stop_possible());
  std::vector<int> calls;
  stop_callback a(t, [&] { calls.push_back(1); });
  stop_callback b(t, [&] { calls.push_back(2); });
  CHECK(calls.empty());
  CHECK(src.request_stop());
  CHECK_FALSE(src.request_stop());
  CHECK(calls == std::vector<int>{2, 1});
  CHECK(t.stop_requested());
  CHECK(src.stop_requested());
}

TEST_CASE("a callback registered after the stop runs at once; an unregistered one never runs", "[core][stop_token]") {
  stop_source src;
  int early = 0, late = 0;
  {
    stop_callback gone(src.token(), [&] { ++early; });
  }
  src.request_stop();
  CHECK(early == 0);
  stop_callback now(src.token(), [&] { ++late; });
  CHECK(late == 1);
}

TEST_CASE("a callback may unregister another that has not run yet", "[core][stop_token]") {
  stop_source src;
  int second_ran = 0;
  using cb_type = stop_callback<std::function<void()>>;
  std::optional<cb_type> victim;
  victim.emplace(src.token(), [&] { ++second_ran; });
  stop_callback killer(src.token(), std::function<void()>([&] { victim.reset(); }));  // newest: runs first
  src.request_stop();
  CHECK(second_ran == 0);
  CHECK_FALSE(victim.has_value());
}

TEST_CASE("tokens keep the stop state alive after their source is gone", "[core][stop_token]") {
  std::optional<stop_token> t;
  {
    stop_source src;
    t = src.token();
    src.request_stop();
  }
  CHECK(t->stop_requested());
  stop_token copy = *t;
  CHECK(copy.stop_requested());
}
