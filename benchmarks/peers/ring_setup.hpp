// Ring setup shared by the raw liburing peers: the flags couring asks for (the first set the
// kernel accepts wins), so that both sides of a ratio run on identically configured rings.
#pragma once

#include <liburing.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bench {

inline void setup_ring(io_uring& ring, unsigned entries) {
  const unsigned flag_sets[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CLAMP,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CLAMP,
      0,
  };
  // At least 256 entries, like couring's default, so a batch never finds the SQ full.
  if (entries < 256) entries = 256;
  int r = -EINVAL;
  for (unsigned flags : flag_sets) {
    io_uring_params params{};
    params.flags = flags;
    r = io_uring_queue_init_params(entries, &ring, &params);
    if (r != -EINVAL) break;
  }
  if (r < 0) {
    std::fprintf(stderr, "io_uring_queue_init_params: %s\n", std::strerror(-r));
    std::exit(77);
  }
  (void)io_uring_register_ring_fd(&ring);
}

}  // namespace bench
