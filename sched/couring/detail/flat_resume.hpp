// Symmetric transfer that needs no tail call.
//
// When a task finishes, or starts a task it awaits, control passes straight from one coroutine to
// the other ("symmetric transfer": await_suspend returns the next handle). Compilers implement that
// as a call to the next coroutine's resume; only a tail call keeps the stack flat, and GCC makes
// it only when optimising: at -O0 a loop of a million synchronous awaits, or a million-deep
// chain, would grow the stack by a frame per transfer until it overflows.
//
// So couring resumes coroutines through resume_flat(), a loop: a coroutine it resumed that hands
// control to another records the other in the loop's frame and returns; the loop resumes it next.
// That is exactly a transfer, with a constant stack at any optimisation level. A coroutine that
// was not resumed by the innermost loop (a program resuming a handle itself, say) transfers the
// ordinary way, so nothing changes for code couring does not drive.
#pragma once

#include <coroutine>

namespace couring::detail {

struct flat_resume_frame {
  std::coroutine_handle<> running;  // the coroutine this loop resumed last
  std::coroutine_handle<> next;     // the one `running` handed control to, if any
  flat_resume_frame* outer;         // the loop further down this stack
};

// The innermost resume_flat() on this thread's current stack (fibers switch it with their stack).
[[gnu::tls_model("initial-exec")]] extern thread_local flat_resume_frame* innermost_flat_resume;

// Resumes `h`, then each coroutine control is handed to, until one suspends for real.
void resume_flat(std::coroutine_handle<> h) noexcept;

// What an await_suspend of `from` returns to hand control to `to`.
inline std::coroutine_handle<> transfer(std::coroutine_handle<> from, std::coroutine_handle<> to) noexcept {
  flat_resume_frame* f = innermost_flat_resume;
  if (f != nullptr && f->running == from) {
    f->next = to;
    return std::noop_coroutine();
  }
  return to;
}

}  // namespace couring::detail
