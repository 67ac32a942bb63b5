// An io_uring provided-buffer ring (Linux 5.19): the kernel takes a buffer from it for each
// multishot receive completion and names it in the CQE; the program gives buffers back by
// adding them to the ring again. liburing 2.3 has no io_uring_setup_buf_ring, so the ring's
// memory is mapped here.
#pragma once

#include "io/backend/backend.hpp"

#include <liburing.h>

#include <cstdint>

namespace couring::uring {

class buffer_ring final : public provided_buffers {
 public:
  // Throws std::system_error with the kernel's error if registration fails.
  buffer_ring(io_uring* ring, unsigned entries, std::uint16_t group);
  ~buffer_ring() override;
  buffer_ring(const buffer_ring&) = delete;
  buffer_ring& operator=(const buffer_ring&) = delete;

  std::uint16_t group() const noexcept override { return group_; }
  void provide(void* addr, std::uint32_t len, std::uint16_t id) noexcept override;

 private:
  io_uring* ring_;
  io_uring_buf_ring* entries_mem_;
  std::size_t mem_size_;
  unsigned entries_;
  std::uint16_t group_;
};

}  // namespace couring::uring
