// The file workload: writes a file of numbered blocks, then reads it back from the page cache with
// many reads in flight, checking every block it reads, until every byte has been read at least
// once and the time is up.
#pragma once

#include "load_tally.hpp"

#include <couring/task.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace tour {

struct file_workload {
  std::string path;                      // created, then removed
  std::size_t file_bytes = 128u << 20;   // rounded down to whole reads
  std::size_t read_bytes = 16u << 10;    // each read
  int in_flight = 32;                    // reads outstanding at any time
  clock_type::duration duration{};       // how long to keep reading after the first pass
};

struct file_figures {
  std::uint64_t bytes_read = 0;
  std::uint64_t wrong_reads = 0;  // short reads, or blocks whose bytes are not the ones written
  double seconds = 0;
  double mib_per_second() const { return seconds > 0 ? static_cast<double>(bytes_read) / seconds / (1u << 20) : 0; }
};

couring::task<file_figures> run_file_workload(const file_workload& w);

}  // namespace tour
