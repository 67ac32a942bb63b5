// COURING_AIO_REPORT=FILE: at exit, the library appends one line to FILE with what it served
// ("couring-aio: pid P inline K backend B submitted N completed M"). It is how a test or a
// benchmark proves that a preloaded, unmodified program (fio) was served by libcouring-aio and not
// by glibc. K of the N were page-cache reads served on the caller's thread; B is "none" when that
// was all of them, since the engine never started (and is not started here, during exit).
#include "runtime/aio/engine.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace couring::aio {
namespace {

__attribute__((destructor)) void report_at_exit() {
  const char* path = std::getenv("COURING_AIO_REPORT");
  if (!path || !*path) return;
  const counter_values v = counters();
  if (v.submitted == 0) return;  // helpers a program starts (sh, fio's children before use) say nothing
  char line[256];
  const int n = std::snprintf(line, sizeof line, "couring-aio: pid %d inline %llu backend %s submitted %llu completed %llu\n",
                              static_cast<int>(getpid()), static_cast<unsigned long long>(v.served_inline),
                              backend_name_if_started(),
                              static_cast<unsigned long long>(v.submitted), static_cast<unsigned long long>(v.completed));
  const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, line, static_cast<std::size_t>(n));
  close(fd);
}

}  // namespace
}  // namespace couring::aio
