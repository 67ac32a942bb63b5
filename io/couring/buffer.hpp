// Buffers are spans of bytes. Any contiguous range of trivially copyable elements converts, so
// `char buf[4096]`, std::array, std::vector<std::byte> and std::string all work as is.
#pragma once

#include <cstddef>
#include <ranges>
#include <span>
#include <type_traits>

namespace couring {

using mutable_buffer = std::span<std::byte>;
using const_buffer = std::span<const std::byte>;

template <class R>
concept byte_range = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                     std::is_trivially_copyable_v<std::ranges::range_value_t<R>>;

template <class R>
concept writable_byte_range =
    byte_range<R> && !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>;

template <writable_byte_range R>
mutable_buffer buffer(R&& r) noexcept {
  return std::as_writable_bytes(std::span(std::ranges::data(r), std::ranges::size(r)));
}

template <byte_range R>
const_buffer const_buffer_of(const R& r) noexcept {
  return std::as_bytes(std::span(std::ranges::data(r), std::ranges::size(r)));
}

inline mutable_buffer buffer(void* data, std::size_t size) noexcept { return {static_cast<std::byte*>(data), size}; }
inline const_buffer buffer(const void* data, std::size_t size) noexcept {
  return {static_cast<const std::byte*>(data), size};
}

}  // namespace couring
