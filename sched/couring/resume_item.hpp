// resume_item: a work_item that resumes one coroutine; how a coroutine gets onto the ready queue
// without an op (starting a spawned task, yielding).
#pragma once

#include <couring/detail/flat_resume.hpp>
#include <couring/work_item.hpp>

#include <coroutine>

namespace couring {

struct resume_item : work_item {
  resume_item() noexcept : work_item(&resume_item::run) {}
  explicit resume_item(std::coroutine_handle<> h) noexcept : work_item(&resume_item::run), handle(h) {}

  std::coroutine_handle<> handle;

 private:
  static void run(work_item& w) noexcept { detail::resume_flat(static_cast<resume_item&>(w).handle); }
};

}  // namespace couring
