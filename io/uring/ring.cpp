#include "ring.hpp"

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

}  // namespace

ring::ring(const ring_options& options) {
  int last_error = 0;
  for (unsigned flags : flag_sets) {
    io_uring_params params{};
    params.flags = flags;
    if (options.cq_entries) {
      params.flags |= IORING_SETUP_CQSIZE;
      params.cq_entries = options.cq_entries;
    }
    int r = io_uring_queue_init_params(options.sq_entries, &ring_, &params);
    if (r == 0) {
      setup_flags_ = params.flags;
      // Saves an fget/fput per io_uring_enter (5.18); harmless to lack.
      (void)io_uring_register_ring_fd(&ring_);
      return;
    }
    last_error = -r;
    // Only unknown flags are worth another try; EPERM, ENOSYS, ENOMEM... will not change.
    if (last_error != EINVAL) break;
  }
  throw std::system_error(last_error, std::system_category(), "io_uring_setup");
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
  if (s.empty()) s = "plain";
  return s;
}

std::bitset<256> ring::probe_opcodes() {
  std::bitset<256> ops;
  std::unique_ptr<io_uring_probe, void (*)(io_uring_probe*)> probe(io_uring_get_probe_ring(&ring_),
                                                                    io_uring_free_probe);
  if (!probe) return ops;  // pre-5.6 kernels have no probe: callers treat that as "too old"
  for (int op = 0; op < probe->ops_len && op < 256; ++op) {
    if (probe->ops[op].flags & IO_URING_OP_SUPPORTED) ops.set(static_cast<std::size_t>(op));
  }
  return ops;
}

}  // namespace couring::uring
