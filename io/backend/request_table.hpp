// The request descriptions as tables indexed by request kind, for the parts of the library that
// hold an op without knowing its type (the emulation, the backends, chains, names): one indirect
// call instead of a visit over the variant. Built from the descriptions alone. Private.
#pragma once

#include <couring/op.hpp>
#include <couring/request.hpp>

#include <fcntl.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>
#include <variant>

namespace couring {

struct kind_entry {
  request_facts facts;
  emulation_plan (*emulate)(const request&) noexcept;
  int (*attempt)(const request&) noexcept;  // nullptr: the kind never waits for readiness
  int (*exec)(const request&) noexcept;
  std::uint64_t (*chain_minimum)(const request&) noexcept;
  // Rewrites the request's descriptor fields from slots of the binding's table to duplicates of
  // the slots' descriptors (held by the binding). 0, or -EBADF for an empty slot, or dup's error.
  int (*use_plain_descriptors)(request&, slot_binding&) noexcept;
};

namespace detail {

inline int plain_descriptor(int& field, const fixed_files& table, unique_fd& reference) noexcept {
  int slot = field;
  // An empty slot, or one only the kernel holds (a direct accept/openat).
  if (slot < 0 || static_cast<std::size_t>(slot) >= table.fds.size() || table.fds[slot] < 0) return -EBADF;
  // The op's own reference: file_table::remove() may close the slot's while the op runs.
  int own = ::fcntl(table.fds[slot], F_DUPFD_CLOEXEC, 0);
  if (own < 0) return -errno;
  reference.reset(own);
  field = own;
  return 0;
}

template <class R>
const R& as(const request& r) noexcept {
  return *std::get_if<R>(&r);
}

template <class R>
constexpr kind_entry entry_of() noexcept {
  static_assert(std::tuple_size_v<decltype(R::descriptors())> <= slot_binding::max_descriptors,
                "slot_binding holds a reference per descriptor field");
  kind_entry e{
      R::facts,
      [](const request& r) noexcept { return R::emulate(as<R>(r)); },
      nullptr,
      [](const request& r) noexcept { return R::exec(as<R>(r)); },
      [](const request& r) noexcept { return R::chain_minimum(as<R>(r)); },
      [](request& r, slot_binding& b) noexcept {
        R& req = *std::get_if<R>(&r);
        int res = 0;
        std::size_t i = 0;
        std::apply(
            [&](auto... field) {
              ((res = res < 0 ? res : plain_descriptor(req.*field, *b.table, b.references[i++])), ...);
            },
            R::descriptors());
        return res;
      },
  };
  if constexpr (R::facts.waits_for_readiness) e.attempt = [](const request& r) noexcept { return R::attempt(as<R>(r)); };
  return e;
}

template <std::size_t... I>
constexpr std::array<kind_entry, sizeof...(I)> make_kind_table(std::index_sequence<I...>) noexcept {
  return {entry_of<std::variant_alternative_t<I, request>>()...};
}

}  // namespace detail

inline constexpr std::array<kind_entry, request_kinds> kind_table =
    detail::make_kind_table(std::make_index_sequence<request_kinds>{});

inline const kind_entry& kind_of(const op_base& op) noexcept { return kind_table[op.req.index()]; }

}  // namespace couring
