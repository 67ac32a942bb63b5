// Directory listing for couring-du and couring-cp. io_uring has no opcode for getdents, so the
// listing runs on the runtime's worker pool through offload(); everything else the tree walkers
// do (openat, statx, close) goes through the backend as ordinary ops.
#pragma once

#include <couring/result.hpp>
#include <couring/task.hpp>

#include <string>
#include <vector>

namespace samples {

struct dir_entry {
  std::string name;
  unsigned char type;  // DT_DIR, DT_REG, DT_LNK, ... or DT_UNKNOWN on file systems that do not say
};

// Every entry of the directory open at `dirfd`, except "." and "..", in the order the file system
// returns them. The descriptor's position is used up: list a descriptor once.
couring::task<couring::result<std::vector<dir_entry>>> list_directory(int dirfd);

}  // namespace samples
