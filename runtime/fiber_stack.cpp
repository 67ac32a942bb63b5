#include "fiber_stack.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace couring::detail {
namespace {

constexpr std::size_t pool_limit = 64;  // stacks kept per thread; more are unmapped

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t guard_bytes() noexcept {
  static const std::size_t size = page_size() > 64 * 1024 ? page_size() : 64 * 1024;
  return size;
}

struct thread_stacks {
  std::vector<fiber_stack> free;
  void* alt_stack = nullptr;

  ~thread_stacks() {
    for (const fiber_stack& s : free) ::munmap(s.guard, s.size + guard_bytes());
    if (alt_stack) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      ::sigaltstack(&off, nullptr);
      std::free(alt_stack);
    }
  }
};

thread_local thread_stacks stacks;
// Apart from `stacks`: set on every switch, and a trivially destructible thread_local is reached
// without the init check that one with a destructor needs.
thread_local const fiber_stack* running_guard = nullptr;
struct sigaction previous_segv;

void write_all_stderr(const char* text) noexcept {
  std::size_t len = std::strlen(text);
  while (len > 0) {
    ssize_t n = ::write(STDERR_FILENO, text, len);
    if (n <= 0) return;
    text += n;
    len -= static_cast<std::size_t>(n);
  }
}

// Runs on the alternate stack: the fiber's own stack is exhausted.
void on_segv(int sig, siginfo_t* info, void* context) {
  const fiber_stack* s = running_guard;
  auto* addr = static_cast<char*>(info->si_addr);
  auto* guard = static_cast<char*>(s ? s->guard : nullptr);
  if (guard && addr >= guard && addr < guard + guard_bytes()) {
    write_all_stderr(
        "couring: fiber stack overflow: the running fiber used its whole stack and hit the guard area "
        "below it; give it a larger fiber_options::stack_size\n");
    ::signal(SIGABRT, SIG_DFL);
    ::abort();
  }
  // Not ours: hand the fault to whoever handled it before (or the default action).
  if (previous_segv.sa_flags & SA_SIGINFO) {
    previous_segv.sa_sigaction(sig, info, context);
    return;
  }
  if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
    previous_segv.sa_handler(sig);
    return;
  }
  ::signal(SIGSEGV, SIG_DFL);  // returning re-executes the faulting access with the default action
}

void install_overflow_handler() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    ::sigaction(SIGSEGV, &sa, &previous_segv);
  });
}

void ensure_alt_stack() noexcept {
  if (stacks.alt_stack) return;
  const std::size_t size = 64 * 1024;  // the handler only formats a fixed message
  void* mem = std::malloc(size);
  if (!mem) return;
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = size;
  if (::sigaltstack(&ss, nullptr) != 0) {
    std::free(mem);
    return;
  }
  stacks.alt_stack = mem;
}

}  // namespace

std::size_t fiber_stack_guard_bytes() noexcept { return guard_bytes(); }

fiber_stack allocate_fiber_stack(std::size_t usable) {
  install_overflow_handler();
  ensure_alt_stack();  // fibers run on the thread that took their stack: the handler needs it here
  const std::size_t page = page_size();
  const std::size_t guard = guard_bytes();
  usable = (usable + page - 1) / page * page;
  for (auto it = stacks.free.begin(); it != stacks.free.end(); ++it) {
    if (it->size == usable) {
      fiber_stack s = *it;
      stacks.free.erase(it);
      return s;
    }
  }
  void* mem = ::mmap(nullptr, usable + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  if (::mprotect(mem, guard, PROT_NONE) != 0) {
    ::munmap(mem, usable + guard);
    throw std::bad_alloc();
  }
  return fiber_stack_at(static_cast<char*>(mem) + guard + usable, usable);
}

fiber_stack fiber_stack_at(void* top, std::size_t usable) noexcept {
  return {top, usable, static_cast<char*>(top) - usable - guard_bytes()};
}

void release_fiber_stack(const fiber_stack& s) noexcept {
  if (stacks.free.size() < pool_limit) {
    try {
      stacks.free.push_back(s);
      return;
    } catch (...) {
    }
  }
  ::munmap(s.guard, s.size + guard_bytes());
}

void set_running_fiber_guard(const fiber_stack* s) noexcept { running_guard = s; }

std::size_t pooled_fiber_stack_bytes() noexcept {
  std::size_t total = 0;
  for (const fiber_stack& s : stacks.free) total += s.size + guard_bytes();
  return total;
}

}  // namespace couring::detail
