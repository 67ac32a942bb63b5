#include "uring_backend.hpp"

#include "buffer_ring.hpp"
#include "registrations.hpp"
#include "sqe_writer.hpp"

#include "io/backend/request_table.hpp"
#include "io/emulation/emulated_op.hpp"
#include "sched/base/log.hpp"

#include <couring/assert.hpp>
#include <couring/error.hpp>
#include <couring/errors.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace couring::uring {
namespace {

static_assert(sizeof(kernel_timespec) == sizeof(__kernel_timespec) &&
                  offsetof(kernel_timespec, tv_nsec) == offsetof(__kernel_timespec, tv_nsec),
              "kernel_timespec must match the kernel's layout: the SQE points at it");
static_assert(cqe_flag_buffer == IORING_CQE_F_BUFFER && cqe_flag_more == IORING_CQE_F_MORE &&
                  cqe_buffer_shift == IORING_CQE_BUFFER_SHIFT,
              "op.hpp's completion flags must be the kernel's");
// The descriptions' opcodes and flags are the kernel's (those the system header knows).
static_assert(uring_op::nop == IORING_OP_NOP && uring_op::readv == IORING_OP_READV &&
              uring_op::writev == IORING_OP_WRITEV && uring_op::fsync == IORING_OP_FSYNC &&
              uring_op::read_fixed == IORING_OP_READ_FIXED && uring_op::write_fixed == IORING_OP_WRITE_FIXED &&
              uring_op::poll_add == IORING_OP_POLL_ADD && uring_op::timeout == IORING_OP_TIMEOUT &&
              uring_op::accept == IORING_OP_ACCEPT && uring_op::connect == IORING_OP_CONNECT &&
              uring_op::fallocate == IORING_OP_FALLOCATE && uring_op::openat == IORING_OP_OPENAT &&
              uring_op::close == IORING_OP_CLOSE && uring_op::statx == IORING_OP_STATX &&
              uring_op::read == IORING_OP_READ && uring_op::write == IORING_OP_WRITE &&
              uring_op::fadvise == IORING_OP_FADVISE && uring_op::send == IORING_OP_SEND &&
              uring_op::recv == IORING_OP_RECV && uring_op::splice == IORING_OP_SPLICE &&
              uring_op::tee == IORING_OP_TEE && uring_op::shutdown == IORING_OP_SHUTDOWN &&
              uring_op::renameat == IORING_OP_RENAMEAT && uring_op::unlinkat == IORING_OP_UNLINKAT &&
              uring_op::mkdirat == IORING_OP_MKDIRAT && uring_op::socket == IORING_OP_SOCKET &&
              uring_op::send_zc == IORING_OP_SEND_ZC,
              "couring's io_uring opcode numbers must be the kernel's");
static_assert(uring_flag::fsync_datasync == IORING_FSYNC_DATASYNC && uring_flag::timeout_absolute == IORING_TIMEOUT_ABS &&
                  uring_flag::accept_multishot == IORING_ACCEPT_MULTISHOT &&
                  uring_flag::recv_multishot == IORING_RECV_MULTISHOT,
              "couring's io_uring flag values must be the kernel's");

// What the backend keeps about a native op while the kernel holds it.
struct native_op {
  kernel_timespec link_deadline;  // the LINK_TIMEOUT's time: the kernel reads it at submission
  std::uint8_t cqes_expected;     // CQEs still to come before the op may resume
  bool on_iopoll_ring;            // polled by the IOPOLL ring, which takes no cancel requests
};

native_op& native_state(op_base& op) noexcept { return op.held.get<native_op>(); }

// The ops the backend itself depends on: the wakeup read, readiness for emulated ops, timeouts
// and cancellation. A kernel without them (before 5.5) gets the thread-pool backend instead.
constexpr std::pair<int, const char*> required_ops[] = {
    {IORING_OP_NOP, "IORING_OP_NOP"},         {IORING_OP_READV, "IORING_OP_READV"},
    {IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD"}, {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT (Linux 5.4)"},
    {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL (Linux 5.5)"},
};

[[noreturn]] void unusable(const std::string& why) {
  throw std::system_error(make_error_code(error::backend_unavailable), why);
}

std::uint64_t user_data_of(op_base& op, std::uintptr_t tag) noexcept {
  return reinterpret_cast<std::uintptr_t>(&op) | tag;
}

}  // namespace

uring_backend::uring_backend(scheduler& owner, emulation::worker_pool& workers, const uring_options& options)
    : backend(owner), ring_(options.ring), engine_(owner, workers, *this, counters_) {
  if (!(ring_.features() & IORING_FEAT_NODROP))
    unusable("kernel io_uring may drop completions on CQ overflow (no IORING_FEAT_NODROP, Linux < 5.5)");
  const std::bitset<256>& kernel_ops = ring_.opcodes();
  if (kernel_ops.none()) unusable("kernel io_uring has no opcode probe (Linux < 5.6)");
  for (auto [op, name] : required_ops) {
    if (!kernel_ops.test(static_cast<std::size_t>(op))) unusable(fmt::format("kernel io_uring lacks {}", name));
  }
  msg_ring_ = options.msg_ring_wakeups && kernel_ops.test(IORING_OP_MSG_RING) && (ring_.features() & IORING_FEAT_CQE_SKIP);
  for (std::size_t k = 0; k < request_kinds; ++k) {
    const kernel_op op = kind_table[k].facts.uring;
    const bool kernel_has = op.expressible() && kernel_ops.test(static_cast<std::size_t>(op.probe));
    // Timeouts are never hidden: no kernel this backend accepts lacks them (they are required
    // above), so an emulated sleep is a case no real machine produces.
    const bool hideable = op.opcode != IORING_OP_TIMEOUT;
    native_[k] = kernel_has && !(hideable && options.hidden.test(k));
  }

  if (options.iopoll) {
    try {
      polled_ring_ = std::make_unique<iopoll_ring>(options.ring);
    } catch (const std::system_error& e) {
      detail::log_notice(fmt::format("IOPOLL ring unavailable ({}); polled ops use the ordinary ring", e.what()));
    }
  }

  int fd = ::eventfd(0, EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "eventfd");
  wake_fd_.reset(fd);
  arm_wakeup();
}

uring_backend::~uring_backend() {
  // The wakeup read is still armed; ring_'s destructor (io_uring_queue_exit) cancels it, and
  // runs while this object's storage, which the read points into, still exists.
}

bool uring_backend::emulated(std::size_t k) const noexcept {
  return !native_[k] && kernel_op(kind_table[k].facts.uring).expressible();
}

// Kept apart from next_sqe() so that the common case (a free slot) inlines into every caller.
io_uring_sqe* uring_backend::next_sqe_after_flush() noexcept {
  io_uring_sqe* sqe = nullptr;
  while (!sqe) {
    // SQ full: hand what we have to the kernel and take a fresh slot. Nothing is lost.
    flush();
    sqe = io_uring_get_sqe(ring_.get());
  }
  return sqe;
}

inline io_uring_sqe* uring_backend::next_sqe() noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  return sqe ? sqe : next_sqe_after_flush();
}

void uring_backend::flush() noexcept {
  for (;;) {
    int r = io_uring_submit(ring_.get());
    counters_.enters.add();
    if (r >= 0 || r == -EINTR) return;
    if (r == -EBUSY || r == -EAGAIN) {
      // The kernel wants its completion backlog reaped before it accepts more.
      reap();
      continue;
    }
    detail::log_error(fmt::format("io_uring_submit failed: {}", std::system_category().message(-r)));
    return;
  }
}

// The op's SQE, from its description, with the registered-file marks of its slot binding.
inline void uring_backend::prep_native(io_uring_sqe* sqe, op_base& op) noexcept {
  const std::size_t kind = op.req.index();
  const bool fixed = op.slots && op.slots->table;
  sqe_writer w(sqe, fixed, op.slots ? op.slots->install_slot : -1);
  prep_table[kind](w, op.req);
  w.finish(kind_table[kind].facts.takes_ioprio, op.ioprio);
  io_uring_sqe_set_data64(sqe, user_data_of(op, tag_op));
}

void uring_backend::submit(op_base& op) noexcept {
  const std::size_t kind = op.req.index();
  if (!native_[kind]) {
    if (kernel_op(kind_table[kind].facts.uring).expressible()) counters_.fallbacks[kind].add();
    engine_.submit(op);
    return;
  }
  if (op.slots) {
    // A registered-file slot is named as such only on a table this ring holds; elsewhere the op
    // runs on plain descriptors, and nothing is installed straight into a slot.
    if (op.slots->table && !op.slots->table->in_kernel) {
      int r = kind_table[kind].use_plain_descriptors(op.req, *op.slots);
      op.slots->table = nullptr;
      if (r < 0) {
        complete(op, r);
        return;
      }
    }
    if (op.slots->install_into && !op.slots->install_into->in_kernel) op.slots->install_slot = -1;
  }
  native_op& n = op.held.claim<native_op>();
  n.cqes_expected = 1;
  if (op.polled && submit_polled(op)) return;
  if (op.deadline_ns != 0) {
    // The op and its LINK_TIMEOUT must reach the kernel in the same submission: a link cannot
    // span two io_uring_enter calls.
    if (io_uring_sq_space_left(ring_.get()) < 2) flush();
    io_uring_sqe* sqe = next_sqe();
    prep_native(sqe, op);
    sqe->flags |= IOSQE_IO_LINK;
    n.link_deadline = {op.deadline_ns / 1'000'000'000, op.deadline_ns % 1'000'000'000};
    io_uring_sqe* timeout = next_sqe();
    io_uring_prep_link_timeout(timeout, reinterpret_cast<__kernel_timespec*>(&n.link_deadline), IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(timeout, user_data_of(op, tag_link_timeout));
    n.cqes_expected = 2;  // the op resumes only when the kernel is done with both
    return;
  }
  prep_native(next_sqe(), op);
}

// Reads and writes on plain descriptors and buffers go to the IOPOLL ring; anything it cannot
// take (a deadline's LINK_TIMEOUT, a registered file or buffer of the main ring) stays here.
bool uring_backend::submit_polled(op_base& op) noexcept {
  if (!polled_ring_ || !kind_of(op).facts.device_pollable || op.deadline_ns != 0 || op.slots) return false;
  if (!polled_ring_->submit(op)) return false;
  native_state(op).on_iopoll_ring = true;
  return true;
}

// Polled ops complete only when someone polls: one pass per loop turn.
void uring_backend::poll_iopoll_ring() noexcept {
  counters_.enters.add();
  polled_ring_->poll(
      [this](op_base& op, int res) {
        counters_.polled.add();
        op.res = res;
        cqe_arrived(op);
      },
      [this](op_base& op) {
        counters_.polled_refused.add();
        native_state(op).on_iopoll_ring = false;
        if (op.cancel != cancel_reason::none) {
          complete(op, -ECANCELED);
          return;
        }
        prep_native(next_sqe(), op);
      });
}

bool uring_backend::submit_linked(op_base* const* ops, std::size_t count, bool hard) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    const op_base& op = *ops[i];
    if (!native_[op.req.index()] || op.deadline_ns != 0) return false;
    // A file_table the ring does not hold (its registration was refused) needs submit()'s
    // translation to plain descriptors: such members run one by one.
    if (op.slots && ((op.slots->table && !op.slots->table->in_kernel) ||
                     (op.slots->install_into && !op.slots->install_into->in_kernel)))
      return false;
  }
  // A chain must reach the kernel in one submission: flush first if it would not fit.
  if (io_uring_sq_space_left(ring_.get()) < count) flush();
  if (io_uring_sq_space_left(ring_.get()) < count) return false;  // longer than the SQ itself
  for (std::size_t i = 0; i < count; ++i) {
    op_base& op = *ops[i];
    op.held.claim<native_op>().cqes_expected = 1;
    io_uring_sqe* sqe = next_sqe();
    prep_native(sqe, op);
    if (i + 1 < count) sqe->flags |= hard ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
  }
  return true;
}

// ---- the emulation's readiness, through POLL_ADD on this ring ----------------------------------

int uring_backend::watch(op_base& op, int fd, std::uint32_t events) noexcept {
  (void)fd;
  (void)events;  // kept in the op's emulation state, which arm_emulated_poll reads
  arm_emulated_poll(op);
  return 0;
}

bool uring_backend::unwatch(op_base& op) noexcept {
  // The op resumes only on its poll's own CQE (-ECANCELED, or readiness that won the race).
  prep_cancel(user_data_of(op, tag_emulated_poll), 0);
  return false;
}

void uring_backend::arm_emulated_poll(op_base& op) noexcept {
  const emulation::emulated_op& e = emulation::state_of(op);
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_poll_add(sqe, e.fd, e.events);
  io_uring_sqe_set_data64(sqe, user_data_of(op, tag_emulated_poll));
}

void uring_backend::on_emulated_ready(op_base& op, int res) noexcept {
  if (res < 0) {  // -ECANCELED after cancel(), or the fd was bad
    emulation::engine::finish(op, res);
    return;
  }
  int r = emulation::engine::attempt(op);
  if (r == -EAGAIN) {
    // A cancel that arrived while the poll was completing found nothing to cancel: honour it
    // now instead of waiting again.
    if (op.cancel != cancel_reason::none) {
      emulation::engine::finish(op, -ECANCELED);
      return;
    }
    arm_emulated_poll(op);  // someone else consumed the readiness; wait again
    return;
  }
  emulation::engine::finish(op, r);
}

// ---- cancellation --------------------------------------------------------------------------------

void uring_backend::prep_cancel(std::uint64_t target, int flags) noexcept {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel64(sqe, target, flags);
  io_uring_sqe_set_data64(sqe, 0);  // its own CQE only says whether it found the target
}

void uring_backend::cancel(op_base& op) noexcept {
  if (op.state != op_state::submitted) return;
  if (!native_[op.req.index()]) {
    engine_.cancel(op);
    return;
  }
  // The IOPOLL ring takes no cancel requests; a polled device op finishes within its own latency.
  if (native_state(op).on_iopoll_ring) return;
  // The op resumes only on its own CQE (-ECANCELED, or its real result if it won the race), so
  // the kernel is done with its buffers by then.
  prep_cancel(user_data_of(op, tag_op), 0);
}

void uring_backend::cancel_all() noexcept {
  engine_.cancel_all();
  // Also cancels the emulation's polls and the wakeup read, which dispatch() re-arms.
  prep_cancel(0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
}

// ---- wakeups ---------------------------------------------------------------------------------------

void uring_backend::arm_wakeup() noexcept {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_readv(sqe, wake_fd_.get(), &wake_iov_, 1, 0);
  io_uring_sqe_set_data64(sqe, tag_wakeup);
}

void uring_backend::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
}

bool uring_backend::wake_other(event_source& target) noexcept {
  // Every shard's event source is its backend; only another ring can take a MSG_RING.
  auto& other_backend = static_cast<backend&>(target);
  if (!msg_ring_ || other_backend.kind() != backend_kind::io_uring) return false;
  auto& other = static_cast<uring_backend&>(other_backend);
  io_uring_sqe* sqe = next_sqe();
  // A CQE in the other ring wakes it; ours comes only on failure (CQE_SKIP_SUCCESS), carrying the
  // target so that its eventfd can be used instead. Submitted now, not with the next loop turn:
  // the caller may block (join a thread, wait on a mutex) before it loops again.
  io_uring_prep_msg_ring(sqe, other.ring_.get()->ring_fd, 0, tag_woken, 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(&other) | tag_wake_failed);
  flush();
  return true;
}

// ---- registrations ---------------------------------------------------------------------------------

result<std::unique_ptr<registered_files>> uring_backend::register_files(unsigned slots) {
  return uring::register_files(ring_.get(), slots);
}

result<std::unique_ptr<registered_buffers>> uring_backend::register_buffers(const iovec* buffers, unsigned count) {
  return uring::register_buffers(ring_.get(), buffers, count);
}

result<std::unique_ptr<provided_buffers>> uring_backend::register_provided_buffers(unsigned entries) {
  if (!native(kind_index<recv_multishot_req>)) return std::errc::operation_not_supported;
  try {
    return std::unique_ptr<provided_buffers>(std::make_unique<buffer_ring>(ring_.get(), entries, next_buffer_group_++));
  } catch (const std::system_error& e) {
    return e.code();
  }
}

// ---- completions -----------------------------------------------------------------------------------

inline void uring_backend::cqe_arrived(op_base& op) noexcept {
  if (--native_state(op).cqes_expected == 0) complete(op, op.res);
}

void uring_backend::dispatch(std::uint64_t user_data, int res, std::uint32_t flags) noexcept {
  // A cancel request's own answer, or the timeout liburing adds to a timed wait on kernels
  // without IORING_FEAT_EXT_ARG: neither belongs to an op.
  if (user_data == 0 || user_data == LIBURING_UDATA_TIMEOUT) return;
  if (user_data == tag_wakeup) {
    arm_wakeup();
    return;
  }
  if (user_data == tag_woken) return;  // being woken was the message
  if ((user_data & tag_mask) == tag_wake_failed) {
    reinterpret_cast<uring_backend*>(static_cast<std::uintptr_t>(user_data) & ~tag_mask)->wake();
    return;
  }
  auto& op = *reinterpret_cast<op_base*>(static_cast<std::uintptr_t>(user_data) & ~tag_mask);
  switch (user_data & tag_mask) {
    case tag_op:
      if (flags & IORING_CQE_F_NOTIF) {  // zero-copy send: the kernel is done with the buffer now
        cqe_arrived(op);
        return;
      }
      op.res = res;
      if (flags & IORING_CQE_F_MORE) {
        // More CQEs follow for this SQE: a multishot op's next result (delivered now), or a
        // zero-copy send's notification (awaited before the op may resume; its observer, a
        // chain, hears of it only then).
        if (kind_of(op).facts.multishot) {
          static_cast<multishot_op&>(op).cqe_flags = flags;
          op.observer->on_result(op);
        }
        return;
      }
      if (kind_of(op).facts.multishot) static_cast<multishot_op&>(op).cqe_flags = flags;
      cqe_arrived(op);
      return;
    case tag_link_timeout:
      // -ETIME: the timer fired and cancelled the op; -ECANCELED: the op finished first.
      if (res == -ETIME && op.cancel == cancel_reason::none) op.cancel = cancel_reason::timed_out;
      cqe_arrived(op);
      return;
    case tag_emulated_poll:
      on_emulated_ready(op, res);
      return;
    default:
      COURING_ASSERT(false, "a CQE carried an unknown user_data tag");
  }
}

void uring_backend::reap() noexcept {
  // CQEs are copied out and the CQ advanced before any is handled: handling may prepare SQEs,
  // and a full SQ flushes, which may reap again; nothing may be seen twice.
  struct completion {
    std::uint64_t user_data;
    int res;
    std::uint32_t flags;
  };
  constexpr unsigned batch_size = 128;
  for (;;) {
    completion batch[batch_size];
    unsigned n = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring_.get(), head, cqe) {
      batch[n++] = {cqe->user_data, cqe->res, cqe->flags};
      if (n == batch_size) break;
    }
    io_uring_cq_advance(ring_.get(), n);
    for (unsigned i = 0; i < n; ++i) dispatch(batch[i].user_data, batch[i].res, batch[i].flags);
    if (n == batch_size) continue;
    if (io_uring_cq_has_overflow(ring_.get())) {
      // NODROP kept the excess in the kernel; entering moves it into the CQ.
      counters_.cq_overflows.add();
      io_uring_get_events(ring_.get());
      continue;
    }
    return;
  }
}

void uring_backend::wait(bool block, std::int64_t deadline_ns) noexcept {
  if (polled_ring_ && polled_ring_->in_flight() > 0) {
    poll_iopoll_ring();
    block = false;  // no interrupt will come for them: keep polling
  }
  int r;
  if (block && deadline_ns >= 0) {
    std::int64_t delta = deadline_ns - monotonic_now_ns();
    if (delta < 0) delta = 0;
    __kernel_timespec ts{delta / 1'000'000'000, delta % 1'000'000'000};
    io_uring_cqe* first = nullptr;
    r = io_uring_submit_and_wait_timeout(ring_.get(), &first, 1, &ts, nullptr);
  } else if (block) {
    r = io_uring_submit_and_wait(ring_.get(), 1);
  } else {
    r = io_uring_submit_and_get_events(ring_.get());
  }
  counters_.enters.add();
  // EINTR (a signal), ETIME (the deadline), EBUSY/EAGAIN (backlog): reaping below is the remedy
  // for all of them.
  (void)r;
  reap();
}

}  // namespace couring::uring
