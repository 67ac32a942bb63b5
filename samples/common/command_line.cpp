#include "command_line.hpp"

#include <couring/errors.hpp>

#include <fmt/core.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <system_error>

namespace samples {
namespace {

const char* name_ = "couring-sample";

}  // namespace

const char* program_name() { return name_; }

couring::runtime_config runtime_options::make_config() const {
  couring::runtime_config c;
  c.backend = backend;
  c.shards = shards;
  // The environment wins over runtime_config (so any program can be moved with COURING_BACKEND);
  // a flag typed on this command line is the more specific wish, so it wins over the environment.
  if (backend_given) {
    const char* v = backend == couring::backend_choice::io_uring      ? "io_uring"
                    : backend == couring::backend_choice::thread_pool ? "thread_pool"
                                                                      : "auto";
    ::setenv("COURING_BACKEND", v, 1);
  }
  if (shards_given) ::setenv("COURING_SHARDS", std::to_string(shards).c_str(), 1);
  // The sample prints its own startup line with the backend and the reason; the runtime's notice
  // would say it twice. COURING_LOG set by the user still decides.
  ::setenv("COURING_LOG", "quiet", 0);
  return c;
}

bool command_line::next() {
  if (index_ == 0 && argc_ > 0) {
    std::string_view full = argv_[0];
    auto slash = full.rfind('/');
    name_ = argv_[0] + (slash == std::string_view::npos ? 0 : slash + 1);
  }
  if (++index_ >= argc_) return false;
  current_ = argv_[index_];
  has_inline_value_ = false;
  if (positional_only_) return true;
  if (current_ == "--") {
    positional_only_ = true;
    return next();
  }
  if (current_ == "--help") {
    fmt::print("{}", usage_);
    std::exit(0);
  }
  if (current_.starts_with("--")) {
    if (auto eq = current_.find('='); eq != std::string_view::npos) {
      inline_value_ = current_.substr(eq + 1);
      current_ = current_.substr(0, eq);
      has_inline_value_ = true;
    }
  }
  return true;
}

std::string_view command_line::value() {
  if (has_inline_value_) {
    has_inline_value_ = false;
    return inline_value_;
  }
  std::string_view flag = current_;
  if (index_ + 1 >= argc_) fail(fmt::format("{} needs a value", flag));
  return argv_[++index_];
}

std::int64_t command_line::number(std::int64_t min, std::int64_t max) {
  std::string_view flag = current_;
  std::string_view v = value();
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < min || n > max)
    fail(fmt::format("{} wants a whole number from {} to {}, not \"{}\"", flag, min, max, v));
  return n;
}

double command_line::decimal(double min, double max) {
  std::string_view flag = current_;
  std::string_view v = value();
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || end != v.data() + v.size() || !(d >= min && d <= max))
    fail(fmt::format("{} wants a number from {} to {}, not \"{}\"", flag, min, max, v));
  return d;
}

bool command_line::runtime_flag(runtime_options& o, bool shards_apply) {
  if (is("--backend")) {
    std::string_view v = value();
    if (v == "auto") o.backend = couring::backend_choice::automatic;
    else if (v == "io_uring") o.backend = couring::backend_choice::io_uring;
    else if (v == "thread_pool") o.backend = couring::backend_choice::thread_pool;
    else fail(fmt::format("--backend wants auto, io_uring or thread_pool, not \"{}\"", v));
    o.backend_given = true;
    return true;
  }
  if (shards_apply && is("--shards")) {
    o.shards = static_cast<unsigned>(number(0, 1024));
    o.shards_given = true;
    return true;
  }
  return false;
}

void command_line::fail(std::string_view why) const {
  fmt::print(stderr, "{}: {}\n{}", program_name(), why, usage_);
  std::exit(exit_usage);
}

void command_line::unknown() const {
  if (is_flag()) fail(fmt::format("unknown option \"{}\"", current_));
  fail(fmt::format("unexpected argument \"{}\"", current_));
}

std::string describe_backend(const couring::runtime& rt) {
  std::string out = fmt::format("backend {}", couring::backend_name(rt.backend()));
  // Say why only when it is news: automatic selection fell back to the pool.
  const std::string& why = rt.backend_reason();
  if (rt.backend() == couring::backend_kind::thread_pool && why != "thread pool requested") out += " (" + why + ")";
  return out;
}

int run_main(const runtime_options& o, couring::task<int> main_task) {
  try {
    couring::runtime rt(o.make_config());
    return rt.run(std::move(main_task));
  } catch (const std::system_error& e) {
    if (e.code() == couring::error::backend_unavailable) {
      fmt::print(stderr, "{}: {}\n", program_name(), e.what());
      return exit_unavailable;
    }
    fmt::print(stderr, "{}: {}\n", program_name(), e.what());
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", program_name(), e.what());
  }
  return 1;
}

}  // namespace samples
