// What every program of the file benchmark (couring's and each peer) does around its measurement:
// the same options, the same test file, the same result line, so that their figures compare.
#pragma once

#include "args.hpp"
#include "io_file.hpp"
#include "report.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace bench {

struct file_run {
  //   --path FILE  --qd N (default 32)  --seconds S (0.5)  --warmup S (0.1)  [--direct]
  explicit file_run(const args& a)
      : qd(std::max(1u, static_cast<unsigned>(a.number("qd", 32)))),
        seconds(a.number("seconds", 0.5)),
        warmup(a.number("warmup", 0.1)),
        direct(a.flag("direct")) {
    open_test_file(file, a.text("path", "bench-file.dat"), direct);
  }
  file_run(const file_run&) = delete;
  file_run& operator=(const file_run&) = delete;

  // The result line; a program may add its own keys before print().
  report result(const std::string& backend, std::uint64_t ops, double measured_seconds) const {
    report r;
    r.add("backend", backend)
        .add("qd", std::uint64_t{qd})
        .add("direct", std::uint64_t{direct})
        .add("ops", ops)
        .add("seconds", measured_seconds);
    return r;
  }

  unsigned qd;
  double seconds;
  double warmup;
  bool direct;
  test_file file;
};

}  // namespace bench
