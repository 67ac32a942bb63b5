// Helpers the tests share: counting what leaks, scratch directories, known file contents.
#pragma once

#include <couring/request.hpp>
#include <couring/runtime.hpp>
#include <couring/task.hpp>
#include <couring/unique_fd.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace couring::testing {

// Entries in /proc/self/fd: compare before and after to prove nothing leaked.
std::size_t open_fd_count();
// "Threads:" from /proc/self/status.
std::size_t thread_count();

// The byte at `offset` of every pattern file: position-dependent, so a read from the wrong
// offset or a torn write is visible.
inline std::uint8_t pattern_byte(std::uint64_t offset) noexcept {
  return static_cast<std::uint8_t>((offset * 131u + (offset >> 12) * 7u) & 0xff);
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at the end of the scope.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Creates `name` holding `size` pattern bytes; returns its path.
  std::string make_pattern_file(const std::string& name, std::size_t size) const;

 private:
  std::string path_;
};

// A pipe, both ends close-on-exec.
struct pipe_ends {
  unique_fd rd;
  unique_fd wr;
};
pipe_ends make_pipe();

// A descriptor number that is not open right now: valid only until the process opens another
// descriptor, so call it inside the runtime (whose own descriptors already exist).
int closed_fd_number();

// The index of a request kind in `request`, to read its counters in runtime::stats().
template <class Req>
std::size_t request_index() noexcept {
  return request(std::in_place_type<Req>).index();
}

// Frames are recycled only in builds without AddressSanitizer (sched/frame_allocator.cpp).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool address_sanitizer = true;
#else
inline constexpr bool address_sanitizer = false;
#endif
#else
inline constexpr bool address_sanitizer = false;
#endif

// Reads a whole file synchronously (to check what async code wrote).
std::string slurp(const std::string& path);

// Checks at the end of its scope that the process has as many fds open as at its start.
class fd_leak_check {
 public:
  fd_leak_check();
  ~fd_leak_check();
  fd_leak_check(const fd_leak_check&) = delete;
  fd_leak_check& operator=(const fd_leak_check&) = delete;

 private:
  std::size_t before_;
};

}  // namespace couring::testing
