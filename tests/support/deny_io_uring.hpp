// Denies io_uring to the calling process the way container runtimes do: a seccomp filter makes
// io_uring_setup, io_uring_enter and io_uring_register fail with `error` (ENOSYS or EPERM).
// Irreversible for the process and its children.
#pragma once

namespace couring::testing {

// Returns 0, or -errno if the filter could not be installed.
int deny_io_uring(int error) noexcept;

// The same for creating threads (clone, clone3): pthread_create then fails with `error`, as it
// does when a container's pids limit is reached. For a test of what couring does without workers.
int deny_thread_creation(int error) noexcept;

}  // namespace couring::testing
