#include <couring/errors.hpp>

#include <string>

namespace couring {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "couring"; }
  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::end_of_file: return "end of file before the requested bytes";
      case error::backend_unavailable: return "the requested backend cannot run on this machine";
      case error::channel_closed: return "the channel is closed";
    }
    return "unknown couring error";
  }
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<error>(value)) {
      case error::backend_unavailable: return std::errc::function_not_supported;
      default: return {value, *this};
    }
  }
};

}  // namespace

const std::error_category& couring_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace couring
