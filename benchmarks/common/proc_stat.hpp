// What another process costs, read from /proc: the servers are measured from outside, by the
// client that drives them, so that no server needs code of its own to be measured.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench {

// utime + stime of every thread of `pid` (dead threads included), in seconds. /proc counts
// clock ticks (usually 10 ms), so measure at least a second for a 1% resolution.
inline double process_cpu_seconds(int pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return 0;
  char line[1024];
  size_t n = std::fread(line, 1, sizeof line - 1, f);
  std::fclose(f);
  line[n] = '\0';
  // The command name (field 2) may contain spaces and parentheses: fields are counted after
  // its last ')'. utime and stime are fields 14 and 15.
  const char* p = std::strrchr(line, ')');
  if (!p) return 0;
  unsigned long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A line "Key:   123 kB" of /proc/PID/status or /proc/meminfo, in bytes; -1 when absent.
inline long long proc_kib_field(const std::string& path, const char* key) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return -1;
  char line[256];
  long long value = -1;
  std::size_t len = std::strlen(key);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, key, len) == 0 && line[len] == ':') {
      value = std::atoll(line + len + 1) * 1024;
      break;
    }
  }
  std::fclose(f);
  return value;
}

// Kernel memory that sockets, threads and their bookkeeping take, system-wide: the bytes of every
// live slab object (struct sock, files, dentries, epoll items, io_uring requests, task structs:
// active objects x object size from /proc/slabinfo, which root may read; objects rather than slab
// pages, so that partly filled pages of other processes' churn count less), kernel stacks
// (/proc/meminfo KernelStack) and the pages TCP holds for queued data (/proc/net/sockstat
// "TCP: ... mem N"). Page tables are left out: compilers starting and exiting swing them by
// megabytes, and a server's threads share one set.
inline long long kernel_bytes() {
  long long total = proc_kib_field("/proc/meminfo", "KernelStack");
  if (std::FILE* f = std::fopen("/proc/slabinfo", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
      char name[128];
      long long active = 0, size = 0;
      if (line[0] != '#' && std::sscanf(line, "%127s %lld %*d %lld", name, &active, &size) == 3) total += active * size;
    }
    std::fclose(f);
  }
  if (std::FILE* f = std::fopen("/proc/net/sockstat", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      const char* mem = std::strstr(line, " mem ");
      if (std::strncmp(line, "TCP:", 4) == 0 && mem) total += std::atoll(mem + 5) * ::sysconf(_SC_PAGESIZE);
    }
    std::fclose(f);
  }
  return total;
}

// Resident bytes of `pid` (VmRSS).
inline long long resident_bytes(int pid) { return proc_kib_field("/proc/" + std::to_string(pid) + "/status", "VmRSS"); }

}  // namespace bench
