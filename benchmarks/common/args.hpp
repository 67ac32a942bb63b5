// Benchmark programs take `--name value` options and measure one configuration once; repetitions,
// statistics and tables belong to the runner (scripts/bench). A bad option ends the program with
// a message, because a silently ignored option would measure the wrong thing.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace bench {

class args {
 public:
  // `usage`: the program's options, printed by `--help`, which ends the program before it does
  // anything (a server must not start because someone asked how to start it).
  args(int argc, char** argv, const char* usage) noexcept : argc_(argc), argv_(argv) {
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
        std::printf("usage: %s %s\n", argv[0], usage);
        std::exit(0);
      }
    }
    for (int i = 1; i < argc; ++i) {
      bool follows_option = i > 1 && is_option(argv[i - 1]);
      if (!is_option(argv[i]) && !follows_option) usage_error("options are --name [value]", argv[i]);
    }
  }

  // `--name value`; `fallback` when absent.
  std::string text(std::string_view name, std::string_view fallback) const {
    const char* v = value_of(name);
    return v ? std::string(v) : std::string(fallback);
  }

  double number(std::string_view name, double fallback) const {
    const char* v = value_of(name);
    if (!v) return fallback;
    char* end = nullptr;
    double d = std::strtod(v, &end);
    if (end == v || *end != '\0') usage_error("not a number", v);
    return d;
  }

  // A bare `--name` (no value follows, or the next word is another option).
  bool flag(std::string_view name) const noexcept { return find(name) > 0; }

 private:
  static bool is_option(const char* a) noexcept { return std::strncmp(a, "--", 2) == 0; }

  int find(std::string_view name) const noexcept {
    for (int i = 1; i < argc_; ++i) {
      if (is_option(argv_[i]) && std::string_view(argv_[i] + 2) == name) return i;
    }
    return 0;
  }

  const char* value_of(std::string_view name) const noexcept {
    int i = find(name);
    if (i == 0) return nullptr;
    if (i + 1 >= argc_ || is_option(argv_[i + 1])) usage_error("option needs a value", argv_[i]);
    return argv_[i + 1];
  }

  [[noreturn]] static void usage_error(const char* why, const char* what) noexcept {
    std::fprintf(stderr, "bad argument: %s: %s\n", why, what);
    std::exit(2);
  }

  int argc_;
  char** argv_;
};

}  // namespace bench
