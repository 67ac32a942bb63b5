// A program of a project that uses couring: one file written and read back through the runtime,
// then the version it was built with and the one it runs with.
#include <couring/couring.hpp>

#include <fcntl.h>

#include <array>
#include <cstdio>
#include <string>
#include <string_view>

couring::task<std::string> round_trip(std::string path) {
  auto f = co_await couring::file::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (!f) co_return "open: " + f.error().message();
  constexpr std::string_view text = "consumed";
  auto w = co_await f->write_at(couring::const_buffer_of(text), 0);
  if (!w || *w != text.size()) co_return "write_at failed";
  std::array<char, 16> back{};
  auto r = co_await f->read_at(couring::buffer(back), 0);
  if (!r || std::string_view(back.data(), *r) != text) co_return "read_at did not return what was written";
  co_return "";
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hello SCRATCH-FILE\n");
    return 2;
  }
  std::string failure = couring::run(round_trip(argv[1]));
  if (!failure.empty()) {
    std::printf("FAILED: %s\n", failure.c_str());
    return 1;
  }
  std::printf("ok headers %s library %s\n", COURING_VERSION_STRING, couring::library_version());
  return 0;
}
