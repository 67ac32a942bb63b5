// list_state: one lio_listio call's members, counted down as they complete. The last member to
// complete delivers the list's notification (LIO_NOWAIT) and frees the state; under LIO_WAIT the
// caller owns it and waits for the count to reach zero.
#pragma once

#include <signal.h>

#include <atomic>

namespace couring::aio {

struct list_state {
  std::atomic<int> remaining{0};
  std::atomic<bool> caller_waits{false};  // LIO_WAIT: the caller frees it
  sigevent notify{};          // LIO_NOWAIT's notification
};

// A member finished (or the caller dropped its own count): the last one notifies and frees the
// state; under LIO_WAIT the member that leaves only the caller's count wakes the caller.
void list_member_done(list_state* l) noexcept;

}  // namespace couring::aio
