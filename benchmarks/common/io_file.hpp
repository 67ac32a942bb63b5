// What the file benchmark's programs share: opening the test file (optionally O_DIRECT), buffers
// aligned for O_DIRECT, and the check that every read returned a full block.
#pragma once

#include "offsets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace bench {

struct free_deleter {
  void operator()(void* p) const noexcept { std::free(p); }
};
using aligned_bytes = std::unique_ptr<std::byte[], free_deleter>;

// O_DIRECT wants buffers aligned to the logical block size; a page satisfies every device.
inline aligned_bytes make_buffers(std::size_t count) {
  void* p = std::aligned_alloc(4096, count * block_size);
  if (!p) {
    std::fprintf(stderr, "out of memory for %zu buffers\n", count);
    std::exit(1);
  }
  std::memset(p, 0, count * block_size);  // fault the pages in before the clock starts
  return aligned_bytes(static_cast<std::byte*>(p));
}

struct test_file {
  int fd = -1;
  std::uint64_t size = 0;
  ~test_file() {
    if (fd >= 0) ::close(fd);
  }
};

inline void open_test_file(test_file& f, const std::string& path, bool direct) {
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
  if (f.fd < 0) {
    std::fprintf(stderr, "open %s%s: %s\n", path.c_str(), direct ? " (O_DIRECT)" : "", std::strerror(errno));
    std::exit(1);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || st.st_size < static_cast<off_t>(block_size)) {
    std::fprintf(stderr, "%s: not a usable test file\n", path.c_str());
    std::exit(1);
  }
  f.size = static_cast<std::uint64_t>(st.st_size);
}

// A short or failed read means the measurement is wrong, not slow: stop loudly.
inline void check_read(long res, const char* who) {
  if (res == static_cast<long>(block_size)) return;
  if (res < 0) std::fprintf(stderr, "%s: read failed: %s\n", who, std::strerror(static_cast<int>(-res)));
  else std::fprintf(stderr, "%s: short read (%ld bytes)\n", who, res);
  std::exit(1);
}

}  // namespace bench
