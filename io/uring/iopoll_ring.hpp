// iopoll_ring: the second, IORING_SETUP_IOPOLL ring of a shard, for `.polled()` O_DIRECT reads
// and writes (runtime_config::uring_iopoll). Their completions are found by polling the device's
// queue, so nothing interrupts the loop for them: while it holds ops the backend polls it on
// every wait instead of sleeping. Private.
#pragma once

#include "ring.hpp"

#include <couring/op.hpp>

#include <array>
#include <cerrno>
#include <utility>
#include <cstdint>

namespace couring::uring {

class iopoll_ring {
 public:
  // Throws std::system_error when the kernel refuses such a ring.
  explicit iopoll_ring(ring_options options);

  // Prepares `op` (a plain read or write) on this ring; false when its SQ is full even after a
  // flush. user_data is the op's address.
  bool submit(op_base& op) noexcept;

  unsigned in_flight() const noexcept { return in_flight_; }

  // Submits, polls once, and hands each completion to `done(op, res)`. The device or the file
  // (not O_DIRECT, a filesystem without polling) refuses some ops with EOPNOTSUPP: those go to
  // `refused(op)` instead, to run on the ordinary ring. One io_uring_enter.
  template <class Done, class Refused>
  void poll(Done&& done, Refused&& refused) noexcept;

 private:
  ring ring_;
  unsigned in_flight_ = 0;
};

template <class Done, class Refused>
void iopoll_ring::poll(Done&& done, Refused&& refused) noexcept {
  io_uring_submit_and_get_events(ring_.get());
  // Copied out before handling: a refused op is prepared again, on the other ring, meanwhile.
  std::array<std::pair<op_base*, int>, 64> batch;
  for (;;) {
    unsigned n = 0, head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring_.get(), head, cqe) {
      batch[n++] = {reinterpret_cast<op_base*>(static_cast<std::uintptr_t>(cqe->user_data)), cqe->res};
      if (n == batch.size()) break;
    }
    io_uring_cq_advance(ring_.get(), n);
    in_flight_ -= n;
    for (unsigned i = 0; i < n; ++i) {
      if (batch[i].second == -EOPNOTSUPP) refused(*batch[i].first);
      else done(*batch[i].first, batch[i].second);
    }
    if (n < batch.size()) return;
  }
}

}  // namespace couring::uring
