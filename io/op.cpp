// The op protocol's door from the public templates (awaitable, chain) into the backends.
#include "io/backend/backend.hpp"
#include "io/backend/request_table.hpp"

#include <couring/assert.hpp>
#include <couring/detail/flat_resume.hpp>
#include <couring/op.hpp>

namespace couring {
namespace {
// initial-exec: read on every submission; the default model in a shared library costs a
// __tls_get_addr call each time, and one pointer of static TLS fits glibc's reserve even when the
// library is dlopen()ed.
[[gnu::tls_model("initial-exec")]] thread_local backend* current_backend = nullptr;
}  // namespace

backend* backend::current() noexcept { return current_backend; }

backend_scope::backend_scope(backend& b) noexcept : previous_(current_backend) { current_backend = &b; }
backend_scope::~backend_scope() { current_backend = previous_; }

bool backend::start_linked(op_base* const* ops, std::size_t count, bool hard) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    op_base& op = *ops[i];
    op.owner = this;
    op.state = op_state::submitted;
    op.submitted_ns = loop_.loop_now_ns();
  }
  if (submit_linked(ops, count, hard)) {
    // Counted only now: members that are not linkable here run (and are counted) one by one.
    for (std::size_t i = 0; i < count; ++i) counters_.submitted_one(ops[i]->req.index());
    return true;
  }
  for (std::size_t i = 0; i < count; ++i) ops[i]->state = op_state::idle;
  return false;
}

op_base::op_base(op_base&& o) noexcept
    : work_item(&op_base::finish),
      req(o.req),
      res(o.res),
      state(o.state),
      cancel(o.cancel),
      ioprio(o.ioprio),
      polled(o.polled),
      waiter(o.waiter),
      observer(o.observer),
      deadline_ns(o.deadline_ns),
      slots(o.slots) {
  COURING_ASSERT(o.state != op_state::submitted, "an op was moved while a backend holds it");
}

void op_base::finish(work_item& w) noexcept {
  auto& op = static_cast<op_base&>(w);
  op.state = op_state::completed;
  op.owner->finished(op);
  if (op.observer) op.observer->on_result(op); else detail::resume_flat(op.waiter);
}

namespace detail {

bool submit(op_base& op) noexcept {
  backend* b = current_backend;
  COURING_ASSERT(b != nullptr, "an io op was awaited on a thread that runs no couring shard");
  if (b->loop().stopping()) return false;
  b->start(op);
  return true;
}

void cancel(op_base& op) noexcept {
  if (op.state == op_state::submitted) op.owner->cancel(op);  // else it finished, or never started
}

link_outcome submit_linked(op_base* const* ops, std::size_t count, bool hard) noexcept {
  backend* b = current_backend;
  COURING_ASSERT(b != nullptr, "a chain was awaited on a thread that runs no couring shard");
  if (b->loop().stopping()) return link_outcome::shutting_down;
  return b->start_linked(ops, count, hard) ? link_outcome::submitted : link_outcome::refused;
}

bool breaks_chain(const op_base& op) noexcept {
  return op.res < 0 || static_cast<std::uint64_t>(op.res) < kind_of(op).chain_minimum(op.req);
}

}  // namespace detail
}  // namespace couring
