#include "select_backend.hpp"

#include "io/backend/request_table.hpp"
#include "io/pool/pool_backend.hpp"
#include "sched/base/log.hpp"

#include <couring/errors.hpp>

#include <fmt/core.h>

#include <cerrno>
#include <fstream>
#include <mutex>
#include <set>
#include <system_error>

#if COURING_HAVE_IO_URING
#include "io/uring/uring_backend.hpp"
#endif

namespace couring {
namespace {

// What an io_uring_setup errno usually means on a real machine; the log line carries it so the
// user knows what to change.
std::string hint_for(int err) {
  int disabled = 0;
  if (std::ifstream sysctl("/proc/sys/kernel/io_uring_disabled"); sysctl) sysctl >> disabled;
  if (disabled == 2) return "kernel.io_uring_disabled=2";
  if (disabled == 1 && err == EPERM) return "kernel.io_uring_disabled=1 and this process is not in io_uring_group";
  switch (err) {
    case EPERM: return "denied by a seccomp profile?";
    case ENOSYS: return "kernel without io_uring, or denied by a seccomp profile?";
    // Rings are charged to RLIMIT_MEMLOCK before 5.12, and again on recent kernels for a process
    // without CAP_IPC_LOCK (seen on 6.18).
    case ENOMEM: return "RLIMIT_MEMLOCK too small for the ring? raise `ulimit -l`, or grant CAP_IPC_LOCK";
    case EINVAL: return "kernel rejected every ring setup tried";
    default: return {};
  }
}

std::string describe_failure(const std::system_error& e) {
  std::string what = e.what();
  if (e.code().category() == std::system_category()) {
    std::string hint = hint_for(e.code().value());
    if (!hint.empty()) what += " \u2014 " + hint;
  }
  return what;
}

// The line is logged once per distinct choice in a process: tests and tools create many runtimes,
// possibly alternating between choices, so every line already written is remembered. `info` for
// the choice a user assumes (io_uring, or the thread pool they asked for), `notice` when
// something is not as assumed: a fallback, kinds emulated.
void log_choice_once(log_level level, const std::string& line) {
  static std::mutex m;
  static std::set<std::string> logged;
  std::lock_guard lock(m);
  if (!logged.insert(line).second) return;
  detail::log(level, line);
}

#if COURING_HAVE_IO_URING
uring::uring_options uring_options_from(const backend_options& options, unsigned sq_entries) {
  uring::uring_options o;
  o.ring.sq_entries = sq_entries;
  o.ring.cq_entries = options.cq_entries;
  o.msg_ring_wakeups = options.msg_ring_wakeups;
  o.ring.sqpoll = options.sqpoll;
  o.ring.sqpoll_idle_ms = options.sqpoll_idle_ms;
  o.ring.sqpoll_cpu = options.sqpoll_cpu;
  o.iopoll = options.iopoll;
  if (options.restricted) {
    for (std::size_t k = 0; k < request_kinds; ++k) {
      const kernel_op op = kind_table[k].facts.uring;
      if (options.allowed.test(k) && op.expressible()) o.ring.allowed_opcodes.push_back(op.opcode);
    }
    // A restriction that allows no opcode of ours still restricts (the backend's own remain).
    o.ring.restricted = true;
  }
  o.hidden = options.hidden;
  return o;
}

std::unique_ptr<uring::uring_backend> try_uring(scheduler& owner, emulation::worker_pool& workers,
                                                const backend_options& options) {
  // A ring too big for RLIMIT_MEMLOCK (charged before 5.12, and again on recent kernels without
  // CAP_IPC_LOCK) may fit when smaller.
  for (unsigned entries = options.sq_entries;; entries /= 4) {
    try {
      return std::make_unique<uring::uring_backend>(owner, workers, uring_options_from(options, entries));
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::not_enough_memory || entries <= 16) throw;
    }
  }
}

std::string emulated_kinds(const uring::uring_backend& b) {
  std::string list;
  for (std::size_t k = 0; k < request_kinds; ++k) {
    if (!b.emulated(k)) continue;
    if (!list.empty()) list += ',';
    list += request_name(k);
  }
  return list.empty() ? "none" : list;
}
#endif

backend_selection thread_pool_selection(scheduler& owner, emulation::worker_pool& workers, std::string reason) {
  return {std::make_unique<pool::pool_backend>(owner, workers), std::move(reason)};
}

}  // namespace

bool io_uring_compiled_in() noexcept { return COURING_HAVE_IO_URING != 0; }

backend_selection select_backend(scheduler& owner, emulation::worker_pool& workers, const backend_options& options) {
  if (options.choice == backend_choice::thread_pool) {
    auto s = thread_pool_selection(owner, workers, "thread pool requested");
    log_choice_once(log_level::info, "using the thread-pool backend (requested)");
    return s;
  }
#if COURING_HAVE_IO_URING
  try {
    auto b = try_uring(owner, workers, options);
    std::string reason = fmt::format("io_uring available (ring: {}; emulated request kinds: {})", b->describe(),
                                     emulated_kinds(*b));
    const std::string emulated = emulated_kinds(*b);
    log_choice_once(emulated == "none" ? log_level::info : log_level::notice,
                    fmt::format("using the io_uring backend (ring: {}; emulated: {})", b->describe(), emulated));
    return {std::move(b), std::move(reason)};
  } catch (const std::system_error& e) {
    std::string why = describe_failure(e);
    if (options.choice == backend_choice::io_uring)
      throw std::system_error(make_error_code(error::backend_unavailable), "io_uring was requested but " + why);
    auto s = thread_pool_selection(owner, workers, "io_uring unavailable (" + why + ")");
    log_choice_once(log_level::notice, fmt::format("io_uring unavailable ({}); using the thread-pool backend", why));
    return s;
  }
#else
  if (options.choice == backend_choice::io_uring)
    throw std::system_error(make_error_code(error::backend_unavailable),
                            "io_uring was requested but couring was built without liburing");
  auto s = thread_pool_selection(owner, workers, "built without liburing");
  log_choice_once(log_level::notice, "built without liburing; using the thread-pool backend");
  return s;
#endif
}

}  // namespace couring
