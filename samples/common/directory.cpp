#include "directory.hpp"

#include <couring/offload.hpp>

#include <dirent.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <system_error>

namespace samples {
namespace {

// Runs on a worker thread: plain blocking syscalls, no couring calls.
couring::result<std::vector<dir_entry>> read_all_entries(int dirfd) {
  std::vector<dir_entry> out;
  alignas(dirent64) char buf[32 * 1024];  // many entries per getdents call
  for (;;) {
    ssize_t n = ::getdents64(dirfd, buf, sizeof buf);
    if (n < 0) return std::error_code(errno, std::system_category());
    if (n == 0) return out;
    for (ssize_t at = 0; at < n;) {
      auto* d = reinterpret_cast<dirent64*>(buf + at);
      at += d->d_reclen;
      if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
      out.push_back({d->d_name, d->d_type});
    }
  }
}

}  // namespace

couring::task<couring::result<std::vector<dir_entry>>> list_directory(int dirfd) {
  try {
    co_return co_await couring::offload([dirfd] { return read_all_entries(dirfd); });
  } catch (const std::system_error& e) {
    co_return e.code();  // cancelled before a worker took it (the program is stopping)
  }
}

}  // namespace samples
