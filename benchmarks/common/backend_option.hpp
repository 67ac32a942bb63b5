// `--backend io_uring|thread_pool` for the couring programs. The choice goes through
// runtime_config, and the program reports the backend that actually ran, so a run can never be
// attributed to the wrong path (the runner also clears COURING_BACKEND, which would override it).
#pragma once

#include "args.hpp"

#include <couring/config.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace bench {

inline couring::runtime_config config_from(const args& a) {
  couring::runtime_config config;
  std::string b = a.text("backend", "io_uring");
  if (b == "io_uring") {
    config.backend = couring::backend_choice::io_uring;
  } else if (b == "thread_pool") {
    config.backend = couring::backend_choice::thread_pool;
  } else {
    std::fprintf(stderr, "--backend must be io_uring or thread_pool, not %s\n", b.c_str());
    std::exit(2);
  }
  return config;
}

}  // namespace bench
