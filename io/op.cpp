#include <couring/backend.hpp>
#include <couring/op.hpp>

namespace couring {

void op_deadline::fire(work_item& w) noexcept {
  op_base& op = *static_cast<op_deadline&>(w).op;
  if (op.state != op_state::submitted) return;  // finished meanwhile; its completion is queued
  op.cancel = cancel_reason::timed_out;
  op.owner->io().cancel(op);
}

}  // namespace couring
