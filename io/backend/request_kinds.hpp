// Request kinds by name: the one place configuration names ("read", "openat", "all") are
// checked and turned into kinds. Private.
#pragma once

#include <couring/request.hpp>

#include <bitset>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace couring {

std::optional<std::size_t> request_kind_named(std::string_view name) noexcept;

// The kinds `names` list (`wildcard` stands for every kind). Throws std::invalid_argument naming
// the first unknown name and what it was meant `purpose`-wise ("hide", "allow").
std::bitset<request_kinds> request_kinds_named(const std::vector<std::string>& names, std::string_view wildcard,
                                               std::string_view purpose);

}  // namespace couring
