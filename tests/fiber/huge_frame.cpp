// Built with -fstack-clash-protection (see meson.build): the compiler touches every page of a frame
// as it grows the stack, so a frame of any size that overflows a fiber's stack faults in the guard
// area instead of jumping past it. This is what docs/fibers.md asks of code with frames larger
// than the guard.
#include "huge_frame.hpp"

namespace couring::testing {

std::size_t huge_frame(std::size_t seed) {
  volatile unsigned char big[1024 * 1024];
  big[0] = static_cast<unsigned char>(seed);
  big[sizeof big - 1] = static_cast<unsigned char>(seed >> 8);
  return big[0] + big[sizeof big - 1];
}

}  // namespace couring::testing
