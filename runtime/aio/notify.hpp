// notify: POSIX's asynchronous notifications. Signals are queued with si_code SI_ASYNCIO and
// the caller's sigev_value (rt_sigqueueinfo to the process, rt_tgsigqueueinfo for
// SIGEV_THREAD_ID). SIGEV_THREAD functions run on one notification thread, in completion order,
// instead of a new thread per request; it starts on the first such notification.
#pragma once

#include <signal.h>

namespace couring::aio {

void deliver(const sigevent& ev) noexcept;

// Called in the child after fork(): the notification thread did not survive it.
void forget_notification_thread() noexcept;

}  // namespace couring::aio
