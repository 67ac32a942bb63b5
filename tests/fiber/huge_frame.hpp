// A function with a 1 MiB frame, compiled with -fstack-clash-protection.
#pragma once

#include <cstddef>

namespace couring::testing {

std::size_t huge_frame(std::size_t seed);

}  // namespace couring::testing
