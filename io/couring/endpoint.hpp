// endpoint: a socket address (IPv4, IPv6 or a Unix path) that knows its own length.
#pragma once

#include <couring/result.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace couring {

class endpoint {
 public:
  endpoint() noexcept = default;

  static endpoint loopback_v4(std::uint16_t port) noexcept;
  static endpoint loopback_v6(std::uint16_t port) noexcept;
  static endpoint any_v4(std::uint16_t port) noexcept;
  static endpoint any_v6(std::uint16_t port) noexcept;
  // "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0"; numeric only (no name lookup).
  static result<endpoint> parse(std::string_view text) noexcept;
  // A path-bound Unix socket; ENAMETOOLONG if it does not fit sun_path.
  static result<endpoint> unix_path(std::string_view path) noexcept;
  // From what accept/getsockname filled in.
  static endpoint from(const sockaddr* addr, socklen_t len) noexcept;

  int family() const noexcept { return storage_.ss_family; }
  std::uint16_t port() const noexcept;
  std::string to_string() const;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return size_; }
  socklen_t* size_ptr() noexcept { return &size_; }
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

}  // namespace couring
