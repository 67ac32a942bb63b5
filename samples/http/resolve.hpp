// From a request target to an open file under the document root, without ever opening anything
// outside it.
//
// Two layers, so that neither has to be perfect alone:
//  1. decode_path() percent-decodes the target's path and refuses, before touching the file
//     system, what can only be an attack: a ".." segment (also when spelled %2e%2e), an encoded
//     NUL, a malformed escape.
//  2. open_beneath() opens the decoded path with openat2(2) and RESOLVE_BENEATH relative to the
//     root's descriptor: the kernel itself refuses any resolution that would leave the root, by
//     "..", by an absolute path, or by a symbolic link pointing outside (EXDEV), and it does so
//     atomically, so a symlink swapped in between a check and the open cannot win a race as it
//     could against a realpath() check.
#pragma once

#include <couring/result.hpp>
#include <couring/task.hpp>
#include <couring/unique_fd.hpp>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace http {

struct decoded_path {
  int status = 0;             // 0, or the status to answer with (400, 403)
  std::string relative;       // "docs/a.html", or "." for the root itself
  bool trailing_slash = false;
  // A segment starts with a dot (".env", ".git/config"): such files are often secrets that were
  // never meant to be published, so they are not served by default (--dotfiles serves them).
  // "/.well-known/" (RFC 8615) is published on purpose and does not count.
  bool hidden = false;
};
decoded_path decode_path(std::string_view target);

// Where to send a client that named a directory without its slash: the decoded path, encoded
// again and made canonical, then the slash, then the target's query. Built from the path rather
// than copied from the target, because a target like "//evil.example/" copied into a Location
// would send the client to another host (an open redirect).
std::string directory_location(const decoded_path& path, std::string_view target);

struct opened_file {
  int status = 0;          // 0, or 301 (a directory named without its slash), 403, 404, 500
  couring::unique_fd fd;   // a regular file (a directory's index.html when the path named a directory)
  std::uint64_t size = 0;
  std::time_t modified = 0;
  std::string content_type_of;  // the file name the content type comes from
};

// couring's openat request carries no RESOLVE_* flags (io_uring has an OPENAT2 opcode, couring no
// verb for it yet), so the open and its fstat run on the worker pool through offload(); the rest
// of the request is ordinary ops.
couring::task<opened_file> open_beneath(int root_fd, const decoded_path& path);

}  // namespace http
