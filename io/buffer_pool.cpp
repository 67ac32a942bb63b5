#include "io/backend/backend.hpp"
#include "sched/base/log.hpp"

#include <couring/assert.hpp>
#include <couring/buffer_pool.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

namespace couring {
namespace {

void report_ring_failure_once(const std::error_code& why) {
  static std::once_flag once;
  std::call_once(once, [&why] {
    detail::log_notice(fmt::format("provided-buffer ring unavailable ({}); recv_stream fills its buffers itself",
                                   why.message()));
  });
}

}  // namespace

std::byte* pooled_buffer::data() const noexcept { return pool_ ? pool_->address(id_) : nullptr; }

void pooled_buffer::release() noexcept {
  if (pool_) std::exchange(pool_, nullptr)->give_back(id_);
}

buffer_pool::buffer_pool(unsigned count, std::size_t size)
    : count_(count), size_(size), available_(count), owner_(scheduler::current()) {
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0)
    throw std::invalid_argument("buffer_pool: the count must be a power of two from 1 to 32768");
  if (size == 0 || size > (1u << 31)) throw std::invalid_argument("buffer_pool: the size must be from 1 byte to 2 GiB");
  COURING_ASSERT(owner_ != nullptr, "a buffer_pool was created outside a couring runtime thread");
  memory_ = std::make_unique<std::byte[]>(std::size_t{count} * size);
  auto ring = backend::current()->register_provided_buffers(count);
  if (ring) {
    ring_ = std::move(*ring);
    for (unsigned id = 0; id < count; ++id)
      ring_->provide(address(static_cast<std::uint16_t>(id)), static_cast<std::uint32_t>(size), static_cast<std::uint16_t>(id));
  } else {
    if (ring.error() != std::errc::operation_not_supported) report_ring_failure_once(ring.error());
    free_.reserve(count);
    for (unsigned id = count; id-- > 0;) free_.push_back(static_cast<std::uint16_t>(id));
  }
}

buffer_pool::~buffer_pool() {
  COURING_ASSERT(available_ == count_, "a buffer_pool was destroyed while buffers were still held");
}

std::uint16_t buffer_pool::group() const noexcept { return ring_ ? ring_->group() : 0; }

std::optional<std::uint16_t> buffer_pool::take() noexcept {
  if (free_.empty()) return std::nullopt;
  std::uint16_t id = free_.back();
  free_.pop_back();
  --available_;
  return id;
}

void buffer_pool::give_back(std::uint16_t id) noexcept {
  COURING_ASSERT(scheduler::current() == owner_, "a pool buffer was given back on another shard");
  ++available_;
  if (ring_) ring_->provide(address(id), static_cast<std::uint32_t>(size_), id);
  else free_.push_back(id);  // reserved for every buffer: never allocates
  for (work_item* w : waiting_) owner_->post(*w);
  waiting_.clear();
}

void buffer_pool::notify_on_return(work_item& w) {
  if (std::find(waiting_.begin(), waiting_.end(), &w) == waiting_.end()) waiting_.push_back(&w);
}

void buffer_pool::forget_notification(work_item& w) noexcept {
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), &w), waiting_.end());
}

}  // namespace couring
