#include "ring.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

namespace couring::uring {
namespace {

// Tried in order; the first the kernel accepts wins. DEFER_TASKRUN (6.1) runs completion work
// only when we enter the kernel to reap, which is exactly when a single-threaded loop wants it;
// COOP_TASKRUN (5.19) at least avoids interrupting the thread for it. SUBMIT_ALL (5.18) keeps
// submitting after one bad SQE instead of leaving the rest in the queue.
constexpr unsigned flag_sets[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP,
    IORING_SETUP_CLAMP,
    0,
};
// With SQPOLL the kernel thread runs the completions, so DEFER_TASKRUN does not apply.
constexpr unsigned sqpoll_flag_sets[] = {
    IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP,
    IORING_SETUP_SQPOLL | IORING_SETUP_CLAMP,
};

// What the backend itself submits, whatever the application declared.
constexpr int backend_opcodes[] = {IORING_OP_NOP,          IORING_OP_READV,        IORING_OP_POLL_ADD,
                                   IORING_OP_TIMEOUT,      IORING_OP_TIMEOUT_REMOVE, IORING_OP_ASYNC_CANCEL,
                                   IORING_OP_LINK_TIMEOUT, IORING_OP_MSG_RING};
// Registrations the backend and its features use after setup.
constexpr int allowed_register_ops[] = {
    IORING_REGISTER_PROBE,   IORING_REGISTER_RING_FDS,      IORING_REGISTER_PBUF_RING, IORING_UNREGISTER_PBUF_RING,
    IORING_REGISTER_FILES,   IORING_UNREGISTER_FILES,       IORING_REGISTER_FILES2,    IORING_REGISTER_FILES_UPDATE,
    IORING_REGISTER_FILES_UPDATE2, IORING_REGISTER_BUFFERS, IORING_UNREGISTER_BUFFERS, IORING_REGISTER_BUFFERS2,
    IORING_REGISTER_BUFFERS_UPDATE, IORING_REGISTER_FILE_ALLOC_RANGE};
constexpr unsigned allowed_sqe_flags = IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_IO_HARDLINK | IOSQE_BUFFER_SELECT |
                                       IOSQE_CQE_SKIP_SUCCESS;

// Debian's liburing 2.3 declares io_uring_register_restrictions and io_uring_enable_rings but does
// not export them (they are missing from its symbol map), so the registrations go straight to
// the io_uring_register system call. -errno like liburing.
int register_op(io_uring* r, unsigned op, const void* arg, unsigned count) noexcept {
  long ret = ::syscall(__NR_io_uring_register, r->ring_fd, op, arg, count);
  return ret < 0 ? -errno : static_cast<int>(ret);
}

}  // namespace

ring::ring(const ring_options& options) {
  int last_error = 0;
  auto try_sets = [&](const unsigned* sets, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      io_uring_params params{};
      params.flags = sets[i];
      if (options.iopoll) params.flags |= IORING_SETUP_IOPOLL;
      if (options.cq_entries) {
        params.flags |= IORING_SETUP_CQSIZE;
        params.cq_entries = options.cq_entries;
      }
      if (params.flags & IORING_SETUP_SQPOLL) {
        params.sq_thread_idle = options.sqpoll_idle_ms;
        if (options.sqpoll_cpu >= 0) {
          params.flags |= IORING_SETUP_SQ_AFF;
          params.sq_thread_cpu = static_cast<unsigned>(options.sqpoll_cpu);
        }
      }
      // A restricted ring starts disabled: the restrictions must be in place before any SQE.
      if (options.restricted) params.flags |= IORING_SETUP_R_DISABLED;
      int r = io_uring_queue_init_params(options.sq_entries, &ring_, &params);
      if (r == 0) {
        setup_flags_ = params.flags;
        return true;
      }
      last_error = -r;
      // Only unknown flags are worth another try; EPERM, ENOSYS, ENOMEM... will not change.
      if (last_error != EINVAL) return false;
    }
    return false;
  };
  bool up = options.sqpoll && try_sets(sqpoll_flag_sets, std::size(sqpoll_flag_sets));
  if (!up && (last_error == 0 || last_error == EINVAL)) up = try_sets(flag_sets, std::size(flag_sets));
  if (!up) throw std::system_error(last_error, std::system_category(), "io_uring_setup");
  probe_opcodes();
  if (options.restricted) {
    try {
      restrict_to(options.allowed_opcodes);
    } catch (...) {
      io_uring_queue_exit(&ring_);
      throw;
    }
  }
  // Saves an fget/fput per io_uring_enter (5.18); harmless to lack.
  (void)io_uring_register_ring_fd(&ring_);
}

void ring::restrict_to(const std::vector<int>& opcodes) {
  std::vector<io_uring_restriction> rules;
  auto allow_op = [&rules](int op) {
    io_uring_restriction r{};
    r.opcode = IORING_RESTRICTION_SQE_OP;
    r.sqe_op = static_cast<__u8>(op);
    rules.push_back(r);
  };
  for (int op : backend_opcodes) allow_op(op);
  for (int op : opcodes) allow_op(op);
  for (int op : allowed_register_ops) {
    io_uring_restriction r{};
    r.opcode = IORING_RESTRICTION_REGISTER_OP;
    r.register_op = static_cast<__u8>(op);
    rules.push_back(r);
  }
  io_uring_restriction flags{};
  flags.opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
  flags.sqe_flags = static_cast<__u8>(allowed_sqe_flags);
  rules.push_back(flags);
  if (int r = register_op(&ring_, IORING_REGISTER_RESTRICTIONS, rules.data(), static_cast<unsigned>(rules.size())); r < 0)
    throw std::system_error(-r, std::system_category(), "io_uring_register(RESTRICTIONS)");
  if (int r = register_op(&ring_, IORING_REGISTER_ENABLE_RINGS, nullptr, 0); r < 0)
    throw std::system_error(-r, std::system_category(), "io_uring_register(ENABLE_RINGS)");
  restricted_ = true;
}

ring::~ring() { io_uring_queue_exit(&ring_); }

std::string ring::describe() const {
  std::string s;
  auto add = [&s](const char* name) {
    if (!s.empty()) s += ' ';
    s += name;
  };
  if (setup_flags_ & IORING_SETUP_SINGLE_ISSUER) add("single_issuer");
  if (setup_flags_ & IORING_SETUP_DEFER_TASKRUN) add("defer_taskrun");
  if (setup_flags_ & IORING_SETUP_COOP_TASKRUN) add("coop_taskrun");
  if (setup_flags_ & IORING_SETUP_SUBMIT_ALL) add("submit_all");
  if (setup_flags_ & IORING_SETUP_SQPOLL) add("sqpoll");
  if (setup_flags_ & IORING_SETUP_IOPOLL) add("iopoll");
  if (restricted_) add("restricted");
  if (s.empty()) s = "plain";
  return s;
}

void ring::probe_opcodes() {
  std::unique_ptr<io_uring_probe, void (*)(io_uring_probe*)> probe(io_uring_get_probe_ring(&ring_),
                                                                    io_uring_free_probe);
  if (!probe) return;  // pre-5.6 kernels have no probe: callers treat that as "too old"
  for (int op = 0; op < probe->ops_len && op < 256; ++op) {
    if (probe->ops[op].flags & IO_URING_OP_SUPPORTED) opcodes_.set(static_cast<std::size_t>(op));
  }
}

}  // namespace couring::uring
