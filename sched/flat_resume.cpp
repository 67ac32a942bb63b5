#include <couring/detail/flat_resume.hpp>

#include <utility>

namespace couring::detail {

[[gnu::tls_model("initial-exec")]] thread_local flat_resume_frame* innermost_flat_resume = nullptr;

void resume_flat(std::coroutine_handle<> h) noexcept {
  flat_resume_frame frame{h, {}, innermost_flat_resume};
  innermost_flat_resume = &frame;
  while (frame.running) {
    frame.running.resume();
    frame.running = std::exchange(frame.next, {});
  }
  innermost_flat_resume = frame.outer;
}

}  // namespace couring::detail
