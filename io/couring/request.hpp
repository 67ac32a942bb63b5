// Requests: plain descriptions of one operation each, as the kernel would take them. A request
// says what to do; its description (the static members next to its fields, in
// <couring/requests/...>) says how each backend performs it. The families are joined here into
// `request`, and `described_request` checks every kind for every piece of its description, so a
// kind added without one does not build.
//
// Results follow io_uring's convention on both backends: >= 0 is the value, < 0 is -errno.
#pragma once

#include <couring/detail/request_list.hpp>
#include <couring/requests/control.hpp>
#include <couring/requests/files.hpp>
#include <couring/requests/pipes.hpp>
#include <couring/requests/sockets.hpp>
#include <couring/requests/transfer.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <variant>

namespace couring {

using request = detail::join_requests<control_requests, transfer_requests, file_requests, socket_requests,
                                      pipe_requests>::variant;

inline constexpr std::size_t request_kinds = std::variant_size_v<request>;

// The index of kind R in `request`: what statistics and the per-kind tables are indexed by.
template <class R>
inline constexpr std::size_t kind_index = request(std::in_place_type<R>).index();

// An SQE as a description's prep() sees it (io/uring/sqe_writer.hpp writes the real one). Only
// used to check that each prep() is well-formed.
struct sqe_shape {
  void rw(int, int, const void*, std::uint32_t, std::uint64_t) noexcept;
  void rw(int, int, std::uint64_t, std::uint32_t, std::uint64_t) noexcept;
  void op_flags(std::uint32_t) noexcept;
  void ioprio(std::uint16_t) noexcept;
  void buf_index(std::uint16_t) noexcept;
  void select_buffer(std::uint16_t) noexcept;
  void splice_in(int, std::uint64_t) noexcept;
  bool installs() const noexcept;
};

template <class R>
concept described_request = std::is_trivially_copyable_v<R> && requires(const R& r, sqe_shape& sqe) {
  { R::facts } -> std::convertible_to<const request_facts&>;
  { R::emulate(r) } noexcept -> std::same_as<emulation_plan>;
  { R::exec(r) } noexcept -> std::same_as<int>;
  { R::chain_minimum(r) } noexcept -> std::same_as<std::uint64_t>;
  R::descriptors();
  requires !kernel_op(R::facts.uring).expressible() || requires { { R::prep(sqe, r) } noexcept; };
  requires !R::facts.waits_for_readiness || requires { { R::attempt(r) } noexcept -> std::same_as<int>; };
};

namespace detail {
// A kind that lacks a piece fails here, and the compiler names the kind and the piece.
template <described_request... R>
constexpr bool every_kind_described(const std::variant<R...>*) noexcept {
  return true;
}
}  // namespace detail
static_assert(detail::every_kind_described(static_cast<const request*>(nullptr)));

// Stable short names ("read", "openat"...), indexed like `request`, for statistics and logs;
// "?" past the last kind.
const char* request_name(std::size_t index) noexcept;

}  // namespace couring
