#include "response.hpp"

#include "dates.hpp"

#include <fmt/core.h>

#include <array>
#include <utility>

namespace http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string_view content_type(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 17> types{{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".xml", "application/xml"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".pdf", "application/pdf"},
      {".wasm", "application/wasm"},
  }};
  auto slash = file_name.rfind('/');
  auto dot = file_name.rfind('.');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
    std::string_view ext = file_name.substr(dot);
    for (auto& [e, type] : types)
      if (e.size() == ext.size() && std::equal(e.begin(), e.end(), ext.begin(), [](char a, char b) {
            return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
          }))
        return type;
  }
  return "application/octet-stream";
}

response_head::response_head(int status) {
  text_ = fmt::format("HTTP/1.1 {} {}\r\nServer: couring-http\r\nDate: {}\r\n", status, reason_phrase(status), date_now());
}

response_head& response_head::add(std::string_view name, std::string_view value) {
  text_.append(name).append(": ").append(value).append("\r\n");
  return *this;
}

response_head& response_head::add(std::string_view name, std::uint64_t value) {
  return add(name, std::string_view(fmt::format("{}", value)));
}

std::string response_head::finish(bool keep_alive, int minor_version) {
  if (!keep_alive) text_ += "Connection: close\r\n";
  else if (minor_version == 0) text_ += "Connection: keep-alive\r\n";
  text_ += "\r\n";
  return std::move(text_);
}

std::string simple_response(int status, bool keep_alive, int minor_version, bool head_only, std::string_view location) {
  std::string body = fmt::format("{} {}\n", status, reason_phrase(status));
  response_head head(status);
  head.add("Content-Type", "text/plain; charset=utf-8").add("Content-Length", body.size());
  if (!location.empty()) head.add("Location", location);
  if (status == 405) head.add("Allow", "GET, HEAD");
  std::string out = head.finish(keep_alive, minor_version);
  if (!head_only) out += body;
  return out;
}

}  // namespace http
