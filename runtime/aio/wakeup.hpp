// wakeup: how blocked callers (aio_suspend, lio_listio LIO_WAIT, couring_aio_waitcomplete) learn
// that something completed. One futex word counts completions; a waiter checks its own list, then
// sleeps on the count it saw. No lock and no allocation, so the waits stay async-signal-safe, and
// a completion costs a FUTEX_WAKE only while someone sleeps.
#pragma once

#include <ctime>

#include <cstdint>

namespace couring::aio {

// The count a waiter reads before checking its condition.
std::uint32_t completion_epoch() noexcept;
// Called by the engine after each completion was published.
void announce_completion() noexcept;
// Sleeps until the count moves past `seen`, or `deadline` (CLOCK_MONOTONIC; nullptr: none) passes.
// Returns 0 (woken or spurious: recheck), ETIMEDOUT or EINTR.
int wait_for_completion(std::uint32_t seen, const timespec* deadline) noexcept;
// A relative timeout turned into a CLOCK_MONOTONIC deadline.
timespec deadline_after(const timespec& relative) noexcept;

}  // namespace couring::aio
