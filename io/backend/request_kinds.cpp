#include "io/backend/request_kinds.hpp"

#include "io/backend/request_table.hpp"

#include <fmt/core.h>

#include <stdexcept>

namespace couring {

const char* request_name(std::size_t index) noexcept {
  // The names are string literals: their data is NUL-terminated.
  return index < request_kinds ? static_cast<std::string_view>(kind_table[index].facts.name).data() : "?";
}

std::optional<std::size_t> request_kind_named(std::string_view name) noexcept {
  for (std::size_t k = 0; k < request_kinds; ++k)
    if (name == static_cast<std::string_view>(kind_table[k].facts.name)) return k;
  return std::nullopt;
}

std::bitset<request_kinds> request_kinds_named(const std::vector<std::string>& names, std::string_view wildcard,
                                               std::string_view purpose) {
  std::bitset<request_kinds> kinds;
  for (const std::string& name : names) {
    if (name == wildcard) {
      kinds.set();
    } else if (auto k = request_kind_named(name)) {
      kinds.set(*k);
    } else {
      throw std::invalid_argument(fmt::format("unknown request kind to {}: \"{}\" (expected names such as read, "
                                              "openat, recv, or {})",
                                              purpose, name, wildcard));
    }
  }
  return kinds;
}

}  // namespace couring
