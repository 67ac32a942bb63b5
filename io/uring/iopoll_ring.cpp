#include "iopoll_ring.hpp"

#include "sqe_writer.hpp"

namespace couring::uring {
namespace {
ring_options polled(ring_options o) {
  o.iopoll = true;
  o.sqpoll = false;
  return o;
}
}  // namespace

iopoll_ring::iopoll_ring(ring_options options) : ring_(polled(std::move(options))) {}

bool iopoll_ring::submit(op_base& op) noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) {
    io_uring_submit(ring_.get());
    sqe = io_uring_get_sqe(ring_.get());
    if (!sqe) return false;
  }
  sqe_writer w(sqe, false, -1);
  prep_table[op.req.index()](w, op.req);
  w.finish(kind_of(op).facts.takes_ioprio, op.ioprio);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(&op));
  ++in_flight_;
  return true;
}

}  // namespace couring::uring
