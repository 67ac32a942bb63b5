#include "runtime/aio/notify.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>

namespace couring::aio {
namespace {

void queue_signal(const sigevent& ev) noexcept {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  info.si_signo = ev.sigev_signo;
  info.si_code = SI_ASYNCIO;
  info.si_pid = getpid();
  info.si_uid = getuid();
  info.si_value = ev.sigev_value;
  if (ev.sigev_notify == SIGEV_THREAD_ID)
    syscall(SYS_rt_tgsigqueueinfo, getpid(), ev._sigev_un._tid, ev.sigev_signo, &info);
  else
    syscall(SYS_rt_sigqueueinfo, getpid(), ev.sigev_signo, &info);
}

struct call {
  void (*fn)(sigval);
  sigval value;
};

struct notifier {
  std::mutex m;
  std::condition_variable cv;
  std::deque<call> calls;
};
notifier* the_notifier = nullptr;
std::mutex notifier_start;

void* notifier_main(void* arg) {
  auto* n = static_cast<notifier*>(arg);
  for (;;) {
    std::unique_lock lock(n->m);
    n->cv.wait(lock, [n] { return !n->calls.empty(); });
    call c = n->calls.front();
    n->calls.pop_front();
    lock.unlock();
    c.fn(c.value);
  }
  return nullptr;
}

notifier* started_notifier() noexcept {
  std::lock_guard lock(notifier_start);
  if (!the_notifier) {
    auto* n = new notifier;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    const int rc = pthread_create(&t, nullptr, notifier_main, n);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
      delete n;
      return nullptr;
    }
    pthread_detach(t);
    pthread_setname_np(t, "couring-aio-cb");
    the_notifier = n;
  }
  return the_notifier;
}

}  // namespace

void deliver(const sigevent& ev) noexcept {
  switch (ev.sigev_notify) {
    case SIGEV_SIGNAL:
    case SIGEV_THREAD_ID:
      if (ev.sigev_signo != 0) queue_signal(ev);
      break;
    case SIGEV_THREAD:
      if (ev.sigev_notify_function) {
        if (notifier* n = started_notifier()) {
          {
            std::lock_guard lock(n->m);
            n->calls.push_back({ev.sigev_notify_function, ev.sigev_value});
          }
          n->cv.notify_one();
        }
      }
      break;
    default:  // SIGEV_NONE
      break;
  }
}

void forget_notification_thread() noexcept {
  the_notifier = nullptr;
  new (&notifier_start) std::mutex;
}

}  // namespace couring::aio
