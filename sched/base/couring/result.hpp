// result<T>: a value or a std::error_code, shaped like C++23 std::expected so that code written
// against it reads the same once std::expected is available everywhere we build.
#pragma once

#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace couring {

template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T>, "result<T&> is not supported; use a pointer");

 public:
  using value_type = T;

  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit like expected
  result(std::error_code error) : state_(std::in_place_index<1>, error) {}  // NOLINT
  result(std::errc error) : result(std::make_error_code(error)) {}          // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  // Throws std::system_error carrying the error: the one place a result turns into an exception.
  T& value() & { check(); return std::get<0>(state_); }
  const T& value() const& { check(); return std::get<0>(state_); }
  T&& value() && { check(); return std::get<0>(std::move(state_)); }

  T& operator*() & noexcept { return *std::get_if<0>(&state_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&state_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&state_)); }
  T* operator->() noexcept { return std::get_if<0>(&state_); }
  const T* operator->() const noexcept { return std::get_if<0>(&state_); }

  // An empty error_code when a value is held (std::expected leaves that undefined; we do not).
  std::error_code error() const noexcept {
    const auto* e = std::get_if<1>(&state_);
    return e ? *e : std::error_code{};
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check() const {
    if (!has_value()) throw std::system_error(std::get<1>(state_));
  }

  std::variant<T, std::error_code> state_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;

  result() noexcept = default;
  result(std::error_code error) noexcept : code_(error.value()), category_(&error.category()) {}  // NOLINT
  result(std::errc error) noexcept : result(std::make_error_code(error)) {}                     // NOLINT

  bool has_value() const noexcept { return code_ == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (code_ != 0) throw std::system_error(error());
  }
  std::error_code error() const noexcept { return code_ != 0 ? std::error_code(code_, *category_) : std::error_code{}; }

 private:
  // The error_code's two halves rather than an error_code: a default std::error_code calls
  // std::system_category() (out of line, in libstdc++), and a success is built on every op.
  int code_ = 0;
  const std::error_category* category_ = nullptr;
};

}  // namespace couring
