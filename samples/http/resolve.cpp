#include "resolve.hpp"

#include <couring/offload.hpp>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Runs on a worker thread: blocking syscalls only.
int open_resolved(int root_fd, const std::string& relative) {
  // O_NONBLOCK: opening a FIFO someone left under the root must not block a worker for ever.
  open_how how{};
  how.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

int status_for(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: return 404;
    case EXDEV:   // the path would leave the root (a symlink out, an absolute link)
    case ELOOP:
    case EACCES:
    case EPERM: return 403;
    default: return 500;
  }
}

opened_file open_blocking(int root_fd, const decoded_path& path) {
  opened_file out;
  std::string name = path.relative;
  int fd = open_resolved(root_fd, name);
  if (fd < 0) {
    out.status = status_for(-fd);
    return out;
  }
  couring::unique_fd file(fd);
  struct stat st {};
  if (::fstat(file.get(), &st) < 0) {
    out.status = 500;
    return out;
  }
  if (S_ISDIR(st.st_mode)) {
    // A directory's relative links resolve against its URL only with the slash: redirect first.
    if (!path.trailing_slash && name != ".") {
      out.status = 301;
      return out;
    }
    name = name == "." ? "index.html" : name + "/index.html";
    fd = open_resolved(root_fd, name);  // beneath the root again: index.html may be a symlink too
    if (fd < 0) {
      out.status = status_for(-fd);
      return out;
    }
    file = couring::unique_fd(fd);
    if (::fstat(file.get(), &st) < 0) {
      out.status = 500;
      return out;
    }
  }
  if (!S_ISREG(st.st_mode)) {  // FIFOs, devices, sockets: nothing to serve
    out.status = 403;
    return out;
  }
  // Reads of a regular file ignore O_NONBLOCK, but io_uring would honour it with EAGAIN: clear it.
  if (::fcntl(file.get(), F_SETFL, 0) < 0) {
    out.status = 500;
    return out;
  }
  out.fd = std::move(file);
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.modified = st.st_mtim.tv_sec;
  out.content_type_of = std::move(name);
  return out;
}

}  // namespace

decoded_path decode_path(std::string_view target) {
  decoded_path out;
  if (target.empty() || target.front() != '/') {  // origin-form only; absolute-form is for proxies
    out.status = 400;
    return out;
  }
  target = target.substr(0, target.find_first_of("?#"));
  std::string decoded;
  decoded.reserve(target.size());
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] != '%') {
      decoded += target[i];
      continue;
    }
    int hi = i + 2 < target.size() ? hex_value(target[i + 1]) : -1;
    int lo = i + 2 < target.size() ? hex_value(target[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {  // a malformed escape, or a NUL that would cut the path
      out.status = 400;
      return out;
    }
    decoded += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  // Rebuild the path from its segments: empty and "." segments vanish; ".." is refused outright,
  // even where it would stay inside the root: no legitimate client sends one (they resolve
  // dot-segments before sending, RFC 3986 §5.2.4), so it is a probe.
  out.trailing_slash = decoded.back() == '/';
  std::string_view rest = decoded;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      out.status = 403;
      return out;
    }
    if (segment.front() == '.' && !(out.relative.empty() && segment == ".well-known")) out.hidden = true;
    if (!out.relative.empty()) out.relative += '/';
    out.relative += segment;
  }
  if (out.relative.empty()) out.relative = ".";
  return out;
}

std::string directory_location(const decoded_path& path, std::string_view target) {
  // RFC 3986 pchar, less '%' (escapes are decoded in `relative`): what a path segment may hold
  // as it is; everything else is percent-encoded, a backslash included (browsers read it as '/').
  auto plain = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~!$&'()*+,;=:@/").find(c) != std::string_view::npos;
  };
  std::string out = "/";
  if (path.relative != ".") {
    for (char c : path.relative) {
      if (plain(c)) {
        out += c;
      } else {
        constexpr char hex[] = "0123456789ABCDEF";
        auto u = static_cast<unsigned char>(c);
        out += {'%', hex[u >> 4], hex[u & 15]};
      }
    }
    out += '/';
  }
  // The query as the client sent it (the parser let only visible ASCII through); no fragment.
  std::string_view rest = target.substr(0, target.find('#'));
  if (auto q = rest.find('?'); q != std::string_view::npos) out += rest.substr(q);
  return out;
}

couring::task<opened_file> open_beneath(int root_fd, const decoded_path& path) {
  try {
    co_return co_await couring::offload([root_fd, &path] { return open_blocking(root_fd, path); });
  } catch (const std::system_error&) {
    opened_file cancelled;  // the server is stopping: the connection closes without an answer
    cancelled.status = 500;
    co_return cancelled;
  }
}

}  // namespace http
