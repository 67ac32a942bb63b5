// Fibers on Boost.Context's fcontext (~10 ns a switch). This is the only file that includes
// Boost.Context. Under AddressSanitizer every switch is announced to ASan here, since Boost's own
// annotations exist only in its ucontext variant, which Debian's library is not built with.
#if defined(__SANITIZE_ADDRESS__)
#define COURING_FIBERS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COURING_FIBERS_UNDER_ASAN 1
#endif
#endif
#if defined(COURING_FIBERS_UNDER_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

#include <couring/fiber.hpp>

#include "fiber_stack.hpp"

#include <couring/assert.hpp>

#include <boost/context/fiber.hpp>


#include <atomic>
#include <system_error>

namespace couring::detail {
namespace ctx = boost::context;

namespace {

#if defined(COURING_FIBERS_UNDER_ASAN)
constexpr std::size_t min_stack = 256 * 1024;  // ASan's redzones and fake frames need room
#else
constexpr std::size_t min_stack = 16 * 1024;
#endif

// Hands Boost.Context a pooled, guarded stack, and records it for the overflow handler.
struct pooled_stack_allocator {
  std::size_t size;
  fiber_stack* record;

  ctx::stack_context allocate() {
    fiber_stack s = allocate_fiber_stack(size);
    *record = s;
    ctx::stack_context sc;
    sc.size = s.size;
    sc.sp = s.top;
    return sc;
  }
  // Called when the fiber is gone (possibly after its core), so it relies on `sc` alone.
  void deallocate(ctx::stack_context& sc) noexcept { release_fiber_stack(fiber_stack_at(sc.sp, sc.size)); }
};

thread_local fiber_core* running_fiber = nullptr;

// Stack switches, told to ASan so that it checks the right stack (no-ops in other builds).
// `fake` keeps the leaving stack's fake-frame state; a null `fake` says the leaving stack dies.
struct stack_bounds {
  const void* bottom = nullptr;
  std::size_t size = 0;
};
#if defined(COURING_FIBERS_UNDER_ASAN)
void switch_start(void** fake, const stack_bounds& to) noexcept { __sanitizer_start_switch_fiber(fake, to.bottom, to.size); }
void switch_finish(void* fake, stack_bounds* from) noexcept {
  __sanitizer_finish_switch_fiber(fake, from ? &from->bottom : nullptr, from ? &from->size : nullptr);
}
#else
void switch_start(void**, const stack_bounds&) noexcept {}
void switch_finish(void*, stack_bounds*) noexcept {}
#endif

}  // namespace

struct fiber_core {
  struct resume_work : work_item {
    explicit resume_work(fiber_core* f) noexcept : work_item(&fiber_core::run), core(f) {}
    fiber_core* core;
  };
  struct shutdown_node : detached_node {
    fiber_core* core;
  };
  struct forward_stop {
    fiber_core* core;
    void operator()() const noexcept { core->stop.request_stop(); }
  };

  fiber_core(scheduler& s, std::unique_ptr<fiber_body> b) noexcept : owner(&s), body(std::move(b)), resume(this) {}

  // On the loop: switches into the fiber until it suspends or finishes.
  static void run(work_item& w) noexcept {
    fiber_core* f = static_cast<resume_work&>(w).core;
    f->switch_in([f] { f->context = std::move(f->context).resume(); });
    if (!f->context) f->on_finished();
  }

  template <class Switch>
  void switch_in(Switch&& do_switch) noexcept {
    running_fiber = this;
    set_running_fiber_guard(&stack);
    void* loop_fake = nullptr;
    // Each stack has its own resume_flat() loops: the fiber starts with none of the loop's.
    detail::flat_resume_frame* const loop_side = std::exchange(detail::innermost_flat_resume, nullptr);
    switch_start(&loop_fake, stack_bounds{static_cast<char*>(stack.top) - stack.size, stack.size});
    do_switch();
    switch_finish(loop_fake, nullptr);
    detail::innermost_flat_resume = loop_side;
    set_running_fiber_guard(nullptr);
    running_fiber = nullptr;
  }

  ctx::fiber entry(ctx::fiber&& loop_side) {
    switch_finish(nullptr, &loop_stack);  // first time on this stack: learn where the loop's is
    loop = std::move(loop_side);
    try {
      body->run();
    } catch (const ctx::detail::forced_unwind&) {
      switch_start(nullptr, loop_stack);  // this stack dies on the way back to the loop
      throw;  // Boost.Context unwinding a destroyed fiber: must reach its entry untouched
    } catch (...) {
      error = std::current_exception();
    }
    finished = true;
    switch_start(nullptr, loop_stack);
    return std::move(loop);
  }

  void on_finished() noexcept {
    if (error && !joined && handle_alive) {
      // Failed, and its handle may still join it. The handle may also outlive the runtime, and
      // then nothing could report the failure (nor touch the scheduler): the fiber stays listed
      // until it is joined or its handle goes, and shutdown reports it if neither happened.
      node.destroy = &fiber_core::report_at_shutdown;
      failure_listed = true;
    } else {
      owner->remove_detached(node);
      if (error && !joined) owner->report_unhandled(error);  // nobody will ever join it: never lose it
    }
    if (waiter) {
      owner->post(*waiter);
      waiter = nullptr;
    }
    release();
  }

  // The failure's one report, when the handle is dropped without a join or at shutdown, whichever
  // comes first; a join (fiber_mark_joined) unlists it instead.
  void settle_failure(bool report) noexcept {
    if (!failure_listed) return;
    failure_listed = false;
    owner->remove_detached(node);
    if (report && !joined) owner->report_unhandled(error);
    joined = true;
  }
  static void report_at_shutdown(detached_node& n) noexcept {
    static_cast<shutdown_node&>(n).core->settle_failure(true);
  }

  // Shutdown destroys a fiber that can never finish: destroying its Boost.Context fiber unwinds
  // its stack (destructors run), then the stack goes back to the pool.
  static void destroy_suspended(detached_node& n) noexcept {
    fiber_core* f = static_cast<shutdown_node&>(n).core;
    f->switch_in([f] { f->context = ctx::fiber{}; });
    if (!f->finished) f->error = std::make_exception_ptr(std::system_error(std::make_error_code(std::errc::operation_canceled), "fiber destroyed at shutdown"));
    f->finished = true;
    f->joined = true;  // its failure is the shutdown itself, not worth reporting
    f->waiter = nullptr;  // awaiting frames are being destroyed too
    f->on_finished();
  }

  void release() noexcept {
    // acq_rel: the last owner (handle or fiber) sees everything the other wrote.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  std::atomic<int> refs{2};  // the handle and the running fiber
  scheduler* owner;
  std::unique_ptr<fiber_body> body;
  std::exception_ptr error;
  bool finished = false;
  bool suspended = false;
  bool joined = false;
  bool handle_alive = true;
  bool failure_listed = false;  // finished with an unjoined failure, still on the detached list
  fiber_stack stack;
  stack_bounds loop_stack;  // for ASan: the stack of the loop that runs this fiber
  void* fiber_fake = nullptr;
  ctx::fiber context;  // the fiber, while it does not run
  ctx::fiber loop;     // the loop, while the fiber runs
  stop_source stop;
  std::optional<stop_callback<forward_stop>> parent_link;
  resume_work resume;
  work_item* waiter = nullptr;  // the joiner, on this fiber's own shard
  shutdown_node node;
};

fiber_core* fiber_start(std::unique_ptr<fiber_body> body, const fiber_options& options) {
  scheduler* s = scheduler::current();
  if (!s) throw std::logic_error("couring::spawn_fiber called outside a couring runtime thread");
  auto* f = new fiber_core(*s, std::move(body));
  try {
    std::size_t size = options.stack_size < min_stack ? min_stack : options.stack_size;
    f->context = ctx::fiber(std::allocator_arg, pooled_stack_allocator{size, &f->stack},
                            [f](ctx::fiber&& loop_side) { return f->entry(std::move(loop_side)); });
  } catch (...) {
    delete f;
    throw;
  }
  f->parent_link.emplace(options.token, fiber_core::forward_stop{f});
  f->node.core = f;
  f->node.destroy = &fiber_core::destroy_suspended;
  s->add_detached(f->node);
  s->post(f->resume);
  return f;
}

void fiber_release_handle(fiber_core* f) noexcept {
  f->handle_alive = false;
  f->settle_failure(true);
  f->release();
}

bool fiber_finished(const fiber_core* f) noexcept { return f->finished && !f->context; }
std::exception_ptr fiber_error(const fiber_core* f) noexcept { return f->error; }
void fiber_mark_joined(fiber_core* f) noexcept {
  f->joined = true;
  f->settle_failure(false);
}

bool fiber_notify_when_finished(fiber_core* f, work_item& w) noexcept {
  // The fiber's state belongs to its shard's thread, unsynchronised: joining from elsewhere would race.
  COURING_ASSERT(f->owner->on_owner_thread(), "a fiber is joined on its own shard; from another shard, join it inside on_shard()");
  if (fiber_finished(f)) return false;
  COURING_ASSERT(f->waiter == nullptr, "a fiber was awaited twice at the same time");
  f->waiter = &w;
  return true;
}

void fiber_cancel_notification(fiber_core* f) noexcept { f->waiter = nullptr; }
void fiber_request_stop(fiber_core* f) noexcept {
  COURING_ASSERT(f->owner->on_owner_thread(), "a fiber is cancelled on its own shard (stop sources are single-threaded)");
  f->stop.request_stop();
}

fiber_core* current_fiber() noexcept { return running_fiber; }

stop_token fiber_token(fiber_core* f) noexcept { return f->stop.token(); }

// Not noexcept: destroying a suspended fiber unwinds its stack with an exception from here.
void fiber_suspend(fiber_core* f) {
  f->suspended = true;
  detail::flat_resume_frame* const fiber_side = detail::innermost_flat_resume;  // the loop resets it
  switch_start(&f->fiber_fake, f->loop_stack);
  try {
    f->loop = std::move(f->loop).resume();  // back to the loop; returns when run() resumes us
  } catch (const ctx::detail::forced_unwind&) {
    // Destroyed at shutdown: we arrived on this stack by the unwind, not by a return, and the
    // switch must be finished before entry() announces the next one (ASan aborts otherwise).
    switch_finish(f->fiber_fake, &f->loop_stack);
    f->suspended = false;
    throw;
  }
  switch_finish(f->fiber_fake, &f->loop_stack);
  detail::innermost_flat_resume = fiber_side;
  f->suspended = false;
}

void fiber_wake(fiber_core* f) noexcept {
  COURING_ASSERT(f->owner->on_owner_thread(), "a fiber's bridge completed on another shard's thread");
  // On the loop's own stack the fiber goes on at once: posting it would cost every await a whole
  // loop turn more than a task's (and, with other work ready, one more look at the kernel). On
  // another fiber's stack (its code completed this bridge inline) it waits for the loop.
  if (running_fiber == nullptr) fiber_core::run(f->resume);
  else f->owner->post(f->resume);
}
bool fiber_suspended(const fiber_core* f) noexcept { return f->suspended; }

}  // namespace couring::detail
