#include "uring_backend.hpp"

#include "buffer_ring.hpp"
#include "prep.hpp"

#include "../pool/exec.hpp"

#include <couring/assert.hpp>
#include <couring/error.hpp>
#include <couring/errors.hpp>
#include <couring/log.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <new>
#include <system_error>
#include <utility>

namespace couring::uring {
namespace {

// Fallback route kept in op_base::backend_route (worker routes belong to worker_submitter).
enum : std::uint8_t { route_native = 0, route_fallback_poll = 1, route_polled = 2 };

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

template <std::size_t... I>
std::array<int, request_kinds> opcodes_of_all(std::index_sequence<I...>) {
  return {opcode_of(request(std::in_place_index<I>))...};
}

// Registered-file flags on top of prep(): the op names a slot, or installs into one.
void mark_registered_files(io_uring_sqe* sqe, const op_base& op) noexcept {
  if (op.files) sqe->flags |= IOSQE_FIXED_FILE;
  if (op.install_slot >= 0) {
    sqe->file_index = static_cast<__u32>(op.install_slot) + 1;  // "slot + 1": 0 means none
    // A direct descriptor never enters the fd table, and the kernel refuses (EINVAL) an install
    // that asks for close-on-exec; the request carries it for when the op is not direct.
    if (sqe->opcode == IORING_OP_OPENAT) sqe->open_flags &= ~static_cast<__u32>(O_CLOEXEC);
    if (sqe->opcode == IORING_OP_ACCEPT) sqe->accept_flags &= ~static_cast<__u32>(SOCK_CLOEXEC);
  }
}

std::uint64_t user_data_of(op_base& op, std::uintptr_t tag) noexcept {
  return reinterpret_cast<std::uintptr_t>(&op) | tag;
}

}  // namespace

uring_backend::uring_backend(scheduler& owner, pool::worker_pool& workers, const uring_options& options)
    : owner_(owner), ring_(options.ring), workers_(owner, workers) {
  if (!(ring_.features() & IORING_FEAT_NODROP))
    unusable("kernel io_uring may drop completions on CQ overflow (no IORING_FEAT_NODROP, Linux < 5.5)");
  const std::bitset<256>& kernel_ops = ring_.opcodes();
  if (kernel_ops.none()) unusable("kernel io_uring has no opcode probe (Linux < 5.6)");
  for (auto [op, name] : required_ops) {
    if (!kernel_ops.test(static_cast<std::size_t>(op))) unusable(fmt::format("kernel io_uring lacks {}", name));
  }
  msg_ring_ = options.msg_ring_wakeups && kernel_ops.test(IORING_OP_MSG_RING) && (ring_.features() & IORING_FEAT_CQE_SKIP);
  auto opcodes = opcodes_of_all(std::make_index_sequence<request_kinds>{});
  for (std::size_t k = 0; k < request_kinds; ++k) {
    // Timeouts cannot be emulated on this backend (the loop keeps no timers of its own); they
    // are a required opcode, so hiding them is ignored.
    bool hideable = opcodes[k] != IORING_OP_TIMEOUT;
    expressible_[k] = opcodes[k] != no_opcode;
    bool kernel_has = expressible_[k] && kernel_ops.test(static_cast<std::size_t>(opcodes[k]));
    // Multishot is a flag on an old opcode, invisible to the probe: infer it from an opcode of the
    // same release (multishot accept and SOCKET: 5.19; multishot recv and SEND_ZC: 6.0).
    if (k == request(accept_multishot_req{}).index()) kernel_has = kernel_has && kernel_ops.test(IORING_OP_SOCKET);
    if (k == request(recv_multishot_req{}).index()) kernel_has = kernel_has && kernel_ops.test(IORING_OP_SEND_ZC);
    native_[k] = kernel_has && !(hideable && options.hidden.test(k));
  }

  if (options.iopoll) {
    ring_options polled = options.ring;
    polled.iopoll = true;
    polled.sqpoll = false;
    try {
      polled_ring_ = std::make_unique<ring>(polled);
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
  COURING_ASSERT(workers_.parked() == 0, "the io_uring backend was destroyed with ops in flight");
  // The wakeup read is still armed; ring_'s destructor (io_uring_queue_exit) cancels it, and
  // runs while this object's storage, which the read points into, still exists.
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
    stats_.enters.add();
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

void uring_backend::submit(op_base& op) noexcept {
  const std::size_t kind = op.req.index();
  stats_.submitted[kind].add();
  // A registered-file slot is named as such only in a native op on a table this ring has.
  if (op.files && !(op.files->in_kernel && native_[kind])) {
    if (int r = pool::use_real_descriptor(op); r < 0) {
      complete(op, r);
      return;
    }
  }
  if (op.install_into && !(op.install_into->in_kernel && native_[kind])) op.install_slot = -1;
  if (!native_[kind]) {
    if (expressible_[kind]) stats_.fallbacks[kind].add();
    fallback(op);
    return;
  }
  op.backend_route = route_native;
  op.cqes_expected = 1;
  if (op.polled && submit_polled(op)) return;
  if (op.deadline_ns != 0) {
    // The op and its LINK_TIMEOUT must reach the kernel in the same submission: a link cannot
    // span two io_uring_enter calls.
    if (io_uring_sq_space_left(ring_.get()) < 2) flush();
    io_uring_sqe* sqe = next_sqe();
    prep(sqe, op.req, op.ioprio);
    mark_registered_files(sqe, op);
    io_uring_sqe_set_data64(sqe, user_data_of(op, tag_op));
    sqe->flags |= IOSQE_IO_LINK;
    op.link_deadline = {op.deadline_ns / 1'000'000'000, op.deadline_ns % 1'000'000'000};
    io_uring_sqe* timeout = next_sqe();
    io_uring_prep_link_timeout(timeout, reinterpret_cast<__kernel_timespec*>(&op.link_deadline), IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(timeout, user_data_of(op, tag_link_timeout));
    op.cqes_expected = 2;  // the op resumes only when the kernel is done with both
    return;
  }
  io_uring_sqe* sqe = next_sqe();
  prep(sqe, op.req, op.ioprio);
  mark_registered_files(sqe, op);
  io_uring_sqe_set_data64(sqe, user_data_of(op, tag_op));
}

// Reads and writes on plain descriptors and buffers go to the IOPOLL ring; anything it cannot
// take (a deadline's LINK_TIMEOUT, a registered file or buffer of the main ring) stays here.
bool uring_backend::submit_polled(op_base& op) noexcept {
  const bool plain_rw = std::holds_alternative<read_req>(op.req) || std::holds_alternative<write_req>(op.req) ||
                        std::holds_alternative<readv_req>(op.req) || std::holds_alternative<writev_req>(op.req);
  if (!polled_ring_ || !plain_rw || op.deadline_ns != 0 || op.files) return false;
  io_uring_sqe* sqe = io_uring_get_sqe(polled_ring_->get());
  if (!sqe) {
    io_uring_submit(polled_ring_->get());
    sqe = io_uring_get_sqe(polled_ring_->get());
    if (!sqe) return false;
  }
  prep(sqe, op.req, op.ioprio);
  io_uring_sqe_set_data64(sqe, user_data_of(op, tag_op));
  op.backend_route = route_polled;
  ++polled_in_flight_;
  return true;
}

bool uring_backend::submit_linked(op_base* const* ops, std::size_t count, bool hard) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (!native_[ops[i]->req.index()] || ops[i]->deadline_ns != 0) return false;
    // A file_table the ring does not hold (its registration was refused) needs submit()'s
    // translation to plain descriptors: such members run one by one.
    const op_base& op = *ops[i];
    if ((op.files && !op.files->in_kernel) || (op.install_into && !op.install_into->in_kernel)) return false;
  }
  // A chain must reach the kernel in one submission: flush first if it would not fit.
  if (io_uring_sq_space_left(ring_.get()) < count) flush();
  if (io_uring_sq_space_left(ring_.get()) < count) return false;  // longer than the SQ itself
  for (std::size_t i = 0; i < count; ++i) {
    op_base& op = *ops[i];
    stats_.submitted[op.req.index()].add();
    op.backend_route = route_native;
    op.cqes_expected = 1;
    io_uring_sqe* sqe = next_sqe();
    prep(sqe, op.req, op.ioprio);
    mark_registered_files(sqe, op);
    io_uring_sqe_set_data64(sqe, user_data_of(op, tag_op));
    if (i + 1 < count) sqe->flags |= hard ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
  }
  return true;
}

void uring_backend::arm_fallback_deadline(op_base& op) noexcept {
  if (op.deadline_ns == 0) return;
  try {
    owner_.arm_timer(op.deadline_timer, op.deadline_ns);
  } catch (const std::bad_alloc&) {
    op_deadline::fire(op.deadline_timer);  // cannot keep the deadline: expire now
  }
}

void uring_backend::fallback(op_base& op) noexcept {
  pool::plan p = pool::plan_for(op.req);
  switch (p.how) {
    case pool::route::immediate:
      complete(op, p.res);
      return;
    case pool::route::readiness:
      op.backend_route = route_fallback_poll;
      op.backend_index = static_cast<std::uint32_t>(p.fd);
      op.backend_events = p.events;
      arm_fallback_poll(op);
      arm_fallback_deadline(op);
      return;
    case pool::route::worker:
      if (workers_.submit(op)) stats_.pool_parked.add();
      arm_fallback_deadline(op);
      return;
    case pool::route::timer:
      // Timeouts are a required opcode, so they are always native.
      COURING_ASSERT(false, "a timeout reached the io_uring fallback");
      complete(op, -EOPNOTSUPP);
      return;
  }
}

void uring_backend::arm_fallback_poll(op_base& op) noexcept {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_poll_add(sqe, static_cast<int>(op.backend_index), op.backend_events);
  io_uring_sqe_set_data64(sqe, user_data_of(op, tag_fallback_poll));
}

void uring_backend::on_fallback_ready(op_base& op, int res) noexcept {
  if (res < 0) {  // -ECANCELED after cancel(), or the fd was bad
    complete(op, res);
    return;
  }
  int r = pool::retry_when_ready(op.req, static_cast<std::uint32_t>(res));
  if (r == -EAGAIN) {
    // A cancel that arrived while the poll was completing found nothing to cancel: honour it
    // now instead of waiting again.
    if (op.cancel != cancel_reason::none) {
      complete(op, -ECANCELED);
      return;
    }
    arm_fallback_poll(op);  // someone else consumed the readiness; wait again
    return;
  }
  complete(op, r);
}

void uring_backend::prep_cancel(std::uint64_t target, int flags) noexcept {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel64(sqe, target, flags);
  io_uring_sqe_set_data64(sqe, 0);  // its own CQE only says whether it found the target
}

void uring_backend::cancel(op_base& op) noexcept {
  if (op.state != op_state::submitted) return;
  // The IOPOLL ring takes no cancel requests; a polled device op finishes within its own latency.
  if (op.backend_route == route_polled) return;
  if (workers_.owns(op)) {
    if (workers_.cancel(op)) complete(op, -ECANCELED);
    return;
  }
  // The op resumes only on its own CQE (-ECANCELED, or its real result if it won the race), so
  // the kernel is done with its buffers by then.
  prep_cancel(user_data_of(op, op.backend_route == route_fallback_poll ? tag_fallback_poll : tag_op), 0);
}

void uring_backend::cancel_all() noexcept {
  workers_.cancel_all([](op_base& op) { complete(op, -ECANCELED); });
  // Also cancels the wakeup read, which dispatch() re-arms.
  prep_cancel(0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
}

void uring_backend::arm_wakeup() noexcept {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_readv(sqe, wake_fd_.get(), &wake_iov_, 1, 0);
  io_uring_sqe_set_data64(sqe, tag_wakeup);
}

void uring_backend::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
}

inline void uring_backend::cqe_arrived(op_base& op) noexcept {
  if (--op.cqes_expected == 0) complete(op, op.res);
}

bool uring_backend::wake_other(backend& target) noexcept {
  if (!msg_ring_ || target.kind() != backend_kind::io_uring) return false;
  auto& other = static_cast<uring_backend&>(target);
  io_uring_sqe* sqe = next_sqe();
  // A CQE in the other ring wakes it; ours comes only on failure (CQE_SKIP_SUCCESS), carrying the
  // target so that its eventfd can be used instead. Submitted now, not with the next loop
  // iteration: the caller may block (join a thread, wait on a mutex) before it loops again.
  io_uring_prep_msg_ring(sqe, other.ring_.get()->ring_fd, 0, tag_woken, 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(&other) | tag_wake_failed);
  flush();
  return true;
}

namespace {

class ring_files final : public registered_files {
 public:
  explicit ring_files(io_uring* r) noexcept : ring_(r) {}
  ~ring_files() override { io_uring_unregister_files(ring_); }
  int update(unsigned slot, int fd) noexcept override {
    int r = io_uring_register_files_update(ring_, slot, &fd, 1);
    return r < 0 ? r : 0;
  }

 private:
  io_uring* ring_;
};

class ring_buffers final : public registered_buffers {
 public:
  explicit ring_buffers(io_uring* r) noexcept : ring_(r) {}
  ~ring_buffers() override { io_uring_unregister_buffers(ring_); }

 private:
  io_uring* ring_;
};

}  // namespace

result<std::unique_ptr<registered_files>> uring_backend::register_files(unsigned slots) {
  if (int r = io_uring_register_files_sparse(ring_.get(), slots); r < 0) return error_from_res(r);
  return std::unique_ptr<registered_files>(std::make_unique<ring_files>(ring_.get()));
}

result<std::unique_ptr<registered_buffers>> uring_backend::register_buffers(const iovec* buffers, unsigned count) {
  // Registration pins the pages and charges RLIMIT_MEMLOCK: ENOMEM here is the common refusal.
  if (int r = io_uring_register_buffers(ring_.get(), buffers, count); r < 0) return error_from_res(r);
  return std::unique_ptr<registered_buffers>(std::make_unique<ring_buffers>(ring_.get()));
}

result<std::unique_ptr<provided_buffers>> uring_backend::register_provided_buffers(unsigned entries) {
  if (!native(request(recv_multishot_req{}).index())) return std::errc::operation_not_supported;
  try {
    return std::unique_ptr<provided_buffers>(std::make_unique<buffer_ring>(ring_.get(), entries, next_buffer_group_++));
  } catch (const std::system_error& e) {
    return e.code();
  }
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
      op.cqe_flags = flags;
      if (flags & IORING_CQE_F_MORE) {
        // More CQEs follow for this SQE: a multishot op's next result (delivered now), or a
        // zero-copy send's notification (awaited before the op may resume).
        if (op.on_shot) op.on_shot(op);
        return;
      }
      cqe_arrived(op);
      return;
    case tag_link_timeout:
      // -ETIME: the timer fired and cancelled the op; -ECANCELED: the op finished first.
      if (res == -ETIME && op.cancel == cancel_reason::none) op.cancel = cancel_reason::timed_out;
      cqe_arrived(op);
      return;
    case tag_fallback_poll:
      on_fallback_ready(op, res);
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
      stats_.cq_overflows.add();
      io_uring_get_events(ring_.get());
      continue;
    }
    return;
  }
}

// Polled ops complete only when someone polls: one pass per loop iteration. Ops the device (or
// the file: not O_DIRECT, a filesystem without polling) refuses come back with EOPNOTSUPP and go
// to the ordinary ring.
void uring_backend::reap_polled() noexcept {
  io_uring_submit_and_get_events(polled_ring_->get());
  stats_.enters.add();
  unsigned head, n = 0;
  io_uring_cqe* cqe;
  op_base* refused = nullptr;
  io_uring_for_each_cqe(polled_ring_->get(), head, cqe) {
    ++n;
    auto& op = *reinterpret_cast<op_base*>(static_cast<std::uintptr_t>(cqe->user_data) & ~tag_mask);
    --polled_in_flight_;
    if (cqe->res == -EOPNOTSUPP) {
      stats_.polled_refused.add();
      op.link_next = refused;  // resubmitted after the CQ is advanced
      refused = &op;
      continue;
    }
    stats_.polled.add();
    op.res = cqe->res;
    cqe_arrived(op);
  }
  io_uring_cq_advance(polled_ring_->get(), n);
  while (refused) {
    op_base& op = *std::exchange(refused, refused->link_next);
    op.link_next = nullptr;
    op.polled = false;
    op.backend_route = route_native;
    if (op.cancel != cancel_reason::none) {
      complete(op, -ECANCELED);
      continue;
    }
    io_uring_sqe* sqe = next_sqe();
    prep(sqe, op.req, op.ioprio);
    io_uring_sqe_set_data64(sqe, user_data_of(op, tag_op));
  }
}

void uring_backend::wait(bool block, std::int64_t deadline_ns) noexcept {
  if (polled_in_flight_ > 0) {
    reap_polled();
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
  stats_.enters.add();
  // EINTR (a signal), ETIME (the deadline), EBUSY/EAGAIN (backlog): reaping below is the remedy
  // for all of them.
  (void)r;
  reap();
}

}  // namespace couring::uring
