#include "buffer_ring.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <system_error>

namespace couring::uring {

buffer_ring::buffer_ring(io_uring* ring, unsigned entries, std::uint16_t group)
    : ring_(ring), mem_size_(entries * sizeof(io_uring_buf)), entries_(entries), group_(group) {
  // The kernel wants the ring page-aligned: mmap gives that.
  void* mem = ::mmap(nullptr, mem_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap(buffer ring)");
  entries_mem_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(entries_mem_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(entries_mem_);
  reg.ring_entries = entries;
  reg.bgid = group;
  if (int r = io_uring_register_buf_ring(ring_, &reg, 0); r < 0) {
    ::munmap(mem, mem_size_);
    throw std::system_error(-r, std::system_category(), "io_uring_register_buf_ring");
  }
}

buffer_ring::~buffer_ring() {
  io_uring_unregister_buf_ring(ring_, group_);
  ::munmap(entries_mem_, mem_size_);
}

void buffer_ring::provide(void* addr, std::uint32_t len, std::uint16_t id) noexcept {
  io_uring_buf_ring_add(entries_mem_, addr, len, id, io_uring_buf_ring_mask(entries_), 0);
  // Publishes the entry (a release store of the tail inside liburing).
  io_uring_buf_ring_advance(entries_mem_, 1);
}

}  // namespace couring::uring
