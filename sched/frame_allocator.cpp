#include <couring/detail/frame_allocator.hpp>

#include <array>
#include <new>
#include <utility>

// Under AddressSanitizer recycling would hide use-after-free of a frame, so every frame goes to
// the heap and back; the free lists are kept only in normal builds.
#if defined(__SANITIZE_ADDRESS__)
#define COURING_RECYCLE_FRAMES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COURING_RECYCLE_FRAMES 0
#endif
#endif
#ifndef COURING_RECYCLE_FRAMES
#define COURING_RECYCLE_FRAMES 1
#endif

namespace couring::detail {
namespace {

constexpr std::size_t granule = 64;          // one cache line: frames of nearby sizes share a list
constexpr std::size_t size_classes = 64;     // frames up to 4 KiB are recycled; larger are rare
constexpr std::size_t max_cached_per_class = 4096;  // bounds what an idle thread keeps

struct free_block {
  free_block* next;
};

struct frame_cache {
  std::array<free_block*, size_classes> lists{};
  std::array<std::size_t, size_classes> counts{};
  frame_allocator_stats stats{};

  ~frame_cache() {
    for (free_block* head : lists) {
      while (head) ::operator delete(std::exchange(head, head->next));
    }
  }
};

thread_local frame_cache cache;

std::size_t class_of(std::size_t size) noexcept { return (size + granule - 1) / granule; }

}  // namespace

void* allocate_frame(std::size_t size) {
  std::size_t c = class_of(size);
  if (COURING_RECYCLE_FRAMES && c < size_classes && cache.lists[c]) {
    free_block* b = cache.lists[c];
    cache.lists[c] = b->next;
    --cache.counts[c];
    ++cache.stats.reused;
    return b;
  }
  ++cache.stats.fresh_allocations;
  // Round up so that a block can serve any frame of its class when it is recycled.
  return ::operator new(c < size_classes ? c * granule : size);
}

void deallocate_frame(void* frame, std::size_t size) noexcept {
  std::size_t c = class_of(size);
  // A frame may finish on another thread than the one that made it; it then joins that thread's
  // cache, which is fine because blocks are interchangeable within a class.
  if (COURING_RECYCLE_FRAMES && c < size_classes && cache.counts[c] < max_cached_per_class) {
    auto* b = static_cast<free_block*>(frame);
    b->next = cache.lists[c];
    cache.lists[c] = b;
    ++cache.counts[c];
    return;
  }
  ::operator delete(frame);
}

frame_allocator_stats frame_stats() noexcept { return cache.stats; }

}  // namespace couring::detail
