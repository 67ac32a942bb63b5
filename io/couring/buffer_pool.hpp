// buffer_pool: fixed-size buffers for recv_stream. On io_uring (Linux 6.0+) they form a provided
// buffer ring: the kernel picks one per received chunk, so an idle connection owns no buffer and
// the pool's size caps the memory of every connection that shares it. Elsewhere (thread pool,
// older kernels, or when registering the ring fails, e.g. under a small RLIMIT_MEMLOCK, which is
// reported once) the same buffers are handed out by recv_stream itself: same API, same bound.
//
// A pool belongs to the shard that created it; use it and its buffers on that shard only.
#pragma once

#include <couring/buffer.hpp>
#include <couring/scheduler.hpp>
#include <couring/work_item.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace couring {

class buffer_pool;
class provided_buffers;  // io/backend/backend.hpp: a backend's provided-buffer ring

// A received chunk in a pool buffer; destroying it gives the buffer back (to the kernel's ring).
class pooled_buffer {
 public:
  pooled_buffer() noexcept = default;
  pooled_buffer(buffer_pool* pool, std::uint16_t id, std::size_t size) noexcept : pool_(pool), id_(id), size_(size) {}
  pooled_buffer(pooled_buffer&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), id_(o.id_), size_(o.size_) {}
  pooled_buffer& operator=(pooled_buffer&& o) noexcept {
    if (this != &o) {
      release();
      pool_ = std::exchange(o.pool_, nullptr);
      id_ = o.id_;
      size_ = o.size_;
    }
    return *this;
  }
  pooled_buffer(const pooled_buffer&) = delete;
  pooled_buffer& operator=(const pooled_buffer&) = delete;
  ~pooled_buffer() { release(); }

  std::byte* data() const noexcept;
  std::size_t size() const noexcept { return size_; }
  const_buffer bytes() const noexcept { return {data(), size_}; }
  std::uint16_t id() const noexcept { return id_; }
  // Gives the buffer back now.
  void release() noexcept;

 private:
  buffer_pool* pool_ = nullptr;
  std::uint16_t id_ = 0;
  std::size_t size_ = 0;
};

class buffer_pool {
 public:
  // `count` buffers (a power of two, at most 32768) of `size` bytes each, on the current shard.
  // std::invalid_argument for other counts or a zero size.
  buffer_pool(unsigned count, std::size_t size);
  // Every buffer must be back and no stream may use the pool any more.
  ~buffer_pool();
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  unsigned count() const noexcept { return count_; }
  std::size_t buffer_size() const noexcept { return size_; }
  // Buffers nobody holds (in the kernel's ring, or in the free list).
  unsigned available() const noexcept { return available_; }
  // Whether the kernel picks the buffers (provided-buffer ring) or recv_stream does.
  bool kernel_selects() const noexcept { return ring_ != nullptr; }
  std::uint16_t group() const noexcept;

  std::byte* address(std::uint16_t id) const noexcept { return memory_.get() + std::size_t{id} * size_; }

  // --- for recv_stream -------------------------------------------------------------------------
  // The kernel filled buffer `id`: it is held until its pooled_buffer goes.
  void taken_by_kernel() noexcept { --available_; }
  // A free buffer for a stream that receives itself (only without a kernel ring).
  std::optional<std::uint16_t> take() noexcept;
  void give_back(std::uint16_t id) noexcept;
  // Posts `w` on this shard when a buffer comes back (streams paused for lack of buffers).
  void notify_on_return(work_item& w);
  void forget_notification(work_item& w) noexcept;

 private:
  unsigned count_;
  std::size_t size_;
  unsigned available_;
  std::unique_ptr<std::byte[]> memory_;
  std::unique_ptr<provided_buffers> ring_;
  std::vector<std::uint16_t> free_;   // without a ring
  std::vector<work_item*> waiting_;
  scheduler* owner_;
};

}  // namespace couring
