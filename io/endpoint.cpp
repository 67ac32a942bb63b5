#include <couring/endpoint.hpp>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace couring {
namespace {

endpoint v4(std::uint32_t host_order_addr, std::uint16_t port) noexcept {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(host_order_addr);
  return endpoint::from(reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

endpoint v6(const in6_addr& addr, std::uint16_t port) noexcept {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_addr = addr;
  return endpoint::from(reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

bool parse_port(std::string_view s, std::uint16_t& port) noexcept {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value > 65535 || s.empty()) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

endpoint endpoint::loopback_v4(std::uint16_t port) noexcept { return v4(INADDR_LOOPBACK, port); }
endpoint endpoint::any_v4(std::uint16_t port) noexcept { return v4(INADDR_ANY, port); }
endpoint endpoint::loopback_v6(std::uint16_t port) noexcept { return v6(in6addr_loopback, port); }
endpoint endpoint::any_v6(std::uint16_t port) noexcept { return v6(in6addr_any, port); }

endpoint endpoint::from(const sockaddr* addr, socklen_t len) noexcept {
  endpoint e;
  if (len > sizeof e.storage_) len = sizeof e.storage_;
  std::memcpy(&e.storage_, addr, len);
  e.size_ = len;
  return e;
}

result<endpoint> endpoint::parse(std::string_view text) noexcept {
  std::string host;
  std::uint16_t port = 0;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::errc::invalid_argument;
    host = text.substr(1, close - 1);
    if (!parse_port(text.substr(close + 2), port)) return std::errc::invalid_argument;
    in6_addr a{};
    if (inet_pton(AF_INET6, host.c_str(), &a) != 1) return std::errc::invalid_argument;
    return v6(a, port);
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::errc::invalid_argument;
  host = text.substr(0, colon);
  if (!parse_port(text.substr(colon + 1), port)) return std::errc::invalid_argument;
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) != 1) return std::errc::invalid_argument;
  return v4(ntohl(a.s_addr), port);
}

result<endpoint> endpoint::unix_path(std::string_view path) noexcept {
  sockaddr_un a{};
  if (path.empty()) return std::errc::invalid_argument;
  if (path.size() >= sizeof a.sun_path) return std::errc::filename_too_long;
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  return from(reinterpret_cast<const sockaddr*>(&a),
              static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1));
}

std::uint16_t endpoint::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string endpoint::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  if (family() == AF_UNIX) return std::string("unix:") + reinterpret_cast<const sockaddr_un*>(&storage_)->sun_path;
  return "unspecified";
}

}  // namespace couring
