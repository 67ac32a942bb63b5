#include <couring/signal.hpp>

#include <signal.h>

#include <array>
#include <cerrno>

namespace couring {
namespace {

// How many live sets of this thread want each signal, and whether we blocked it (so that closing
// the last set restores what the thread had before).
struct thread_signal_claims {
  std::array<unsigned, _NSIG> sets{};
  std::array<bool, _NSIG> blocked_by_us{};
};
thread_local thread_signal_claims claims;

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

}  // namespace

result<signal_set> signal_set::open(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : signals) {
    if (s <= 0 || s >= _NSIG || s == SIGKILL || s == SIGSTOP) return std::errc::invalid_argument;
    sigaddset(&mask, s);
  }
  sigset_t before;
  if (pthread_sigmask(SIG_BLOCK, &mask, &before) != 0) return std::errc::invalid_argument;
  unique_fd fd(::signalfd(-1, &mask, SFD_CLOEXEC));
  if (!fd) {
    std::error_code e = last_error();
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    return e;
  }
  std::vector<int> list(signals);
  for (int s : list) {
    if (claims.sets[s]++ == 0 && !sigismember(&before, s)) claims.blocked_by_us[s] = true;
  }
  return signal_set(std::move(fd), std::move(list));
}

signal_set::~signal_set() {
  if (!fd_) return;  // moved from
  sigset_t release;
  sigemptyset(&release);
  bool any = false;
  for (int s : signals_) {
    if (--claims.sets[s] == 0 && claims.blocked_by_us[s]) {
      claims.blocked_by_us[s] = false;
      sigaddset(&release, s);
      any = true;
    }
  }
  if (!any) return;
  // Consume what is still pending for these signals before unblocking them: it was meant for
  // the set, and unblocking would deliver it with its default action.
  timespec zero{0, 0};
  while (sigtimedwait(&release, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_UNBLOCK, &release, nullptr);
}

}  // namespace couring
