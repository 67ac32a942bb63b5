// Command-line handling shared by the samples. Every sample takes --backend and --shards (where
// it applies) and answers bad input the same way: a one-line reason, its usage, exit status 2.
#pragma once

#include <couring/config.hpp>
#include <couring/runtime.hpp>
#include <couring/task.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace samples {

// Exit statuses the test suite relies on.
inline constexpr int exit_usage = 2;         // bad command line
inline constexpr int exit_unavailable = 69;  // sysexits' EX_UNAVAILABLE: the forced backend cannot run here

// What every sample understands.
struct runtime_options {
  couring::backend_choice backend = couring::backend_choice::automatic;
  bool backend_given = false;
  unsigned shards = 1;  // servers: one SO_REUSEPORT listener per shard; 0 means one per CPU
  bool shards_given = false;

  // The runtime_config these options ask for (see make_config in command_line.cpp for why an
  // explicit --backend also overrides COURING_BACKEND).
  couring::runtime_config make_config() const;
};

// Walks argv. Typical use:
//   for (command_line cl(argc, argv, usage); cl.next();) {
//     if (cl.runtime_flag(opts)) continue;
//     if (cl.is("--port")) port = cl.number(0, 65535);
//     else cl.unknown();
//   }
class command_line {
 public:
  command_line(int argc, char** argv, std::string_view usage) : argc_(argc), argv_(argv), usage_(usage) {}

  // Moves to the next argument; false at the end. Prints the usage and exits 0 on --help.
  bool next();

  std::string_view arg() const { return current_; }
  bool is(std::string_view flag) const { return current_ == flag; }
  bool is_flag() const { return current_.size() > 1 && current_[0] == '-' && !positional_only_; }

  // The value of the current flag: "--port 80" or "--port=80". A usage error if missing.
  std::string_view value();
  // The value as an integer in [min, max]; a usage error otherwise.
  std::int64_t number(std::int64_t min, std::int64_t max);
  // The value as a decimal number in [min, max] ("2.5"); a usage error otherwise.
  double decimal(double min, double max);
  // --backend and --shards; true if the current argument was one of them.
  bool runtime_flag(runtime_options& o, bool shards_apply = true);

  [[noreturn]] void fail(std::string_view why) const;
  [[noreturn]] void unknown() const;

 private:
  int argc_;
  char** argv_;
  std::string_view usage_;
  int index_ = 0;
  std::string_view current_;
  std::string_view inline_value_;  // after '=' in "--flag=value"
  bool has_inline_value_ = false;
  bool positional_only_ = false;   // after "--"
};

// A sample's name as its messages begin ("couring-http").
const char* program_name();

// The startup line's backend part: "backend io_uring", or for a fallback
// "backend thread_pool (io_uring unavailable (...))".
std::string describe_backend(const couring::runtime& rt);

// Runs a sample's main task on a runtime built from `o` and returns the exit status: the task's
// own, 69 when the forced backend cannot run here (the tests skip on it), 1 for an error that
// escaped (printed first).
int run_main(const runtime_options& o, couring::task<int> main_task);

}  // namespace samples
