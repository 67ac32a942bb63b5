// signal_set: signals as awaitable events, read from a signalfd through the backend, so a
// signal can be awaited together with I/O and timers (when_any).
//
//   auto sigs = signal_set::open({SIGINT, SIGTERM}).value();
//   auto sig = co_await sigs.wait();   // result<int>: the signal number
//
// Rules, because signals are process-wide:
// - Opening a set blocks its signals in the calling thread (the thread running the loop); that
//   is what lets the signalfd receive them instead of their handlers. couring's worker threads
//   block every signal. Other threads of the program must block them too, or a process-directed
//   signal may be delivered to them (with its default action, e.g. termination).
// - A user handler for a signal in a live set does not run: the signal is queued for the set.
// - When the last set for a signal closes, signals still pending are consumed (they were meant
//   for the set) and the signal is unblocked again.
#pragma once

#include <couring/awaitable.hpp>
#include <couring/result.hpp>
#include <couring/unique_fd.hpp>

#include <sys/signalfd.h>

#include <initializer_list>
#include <vector>

namespace couring {

class signal_set {
 public:
  // EINVAL for a signal that cannot be caught (SIGKILL, SIGSTOP) or out of range.
  static result<signal_set> open(std::initializer_list<int> signals);

  signal_set(signal_set&& o) noexcept = default;
  signal_set& operator=(signal_set&&) = delete;
  signal_set(const signal_set&) = delete;
  ~signal_set();

  class [[nodiscard]] wait_awaitable : public op_awaitable<wait_awaitable> {
   public:
    explicit wait_awaitable(int fd) noexcept
        : op_awaitable(read_req{fd, &info_, static_cast<std::uint32_t>(sizeof info_), current_position}) {
      if (fd < 0) op_.complete_inline(-EBADF);
    }
    // The request points at this awaitable's buffer: a move (allowed before submission) re-points it.
    wait_awaitable(wait_awaitable&& o) noexcept : op_awaitable(std::move(o)), info_(o.info_) {
      std::get<read_req>(op_.req).buf = &info_;
    }
    result<int> await_resume() noexcept {
      int r = finish();
      if (r < 0) return error_from_res(r);
      if (r != static_cast<int>(sizeof info_)) return std::make_error_code(std::errc::io_error);
      return static_cast<int>(info_.ssi_signo);
    }

   private:
    signalfd_siginfo info_{};
  };

  // The next signal of the set (one per call; signals arriving meanwhile wait in the kernel).
  wait_awaitable wait() const noexcept { return wait_awaitable(fd_.get()); }

  int fd() const noexcept { return fd_.get(); }
  const std::vector<int>& signals() const noexcept { return signals_; }

 private:
  signal_set(unique_fd fd, std::vector<int> signals) noexcept : fd_(std::move(fd)), signals_(std::move(signals)) {}
  unique_fd fd_;
  std::vector<int> signals_;
};

}  // namespace couring
