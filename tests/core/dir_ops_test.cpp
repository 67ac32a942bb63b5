// Directory operations: creating, renaming and removing names, on every backend.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::temp_dir;

namespace fs = std::filesystem;

namespace {
mode_t current_umask() {
  mode_t m = ::umask(0);
  ::umask(m);
  return m;
}
}  // namespace

TEST_CASE("mkdir creates a directory with the requested mode; a second mkdir fails with file_exists",
          "[core][dir][mkdirat]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string sub = dir.file("sub");
  run([&]() -> task<void> {
    auto made = co_await couring::mkdir(sub.c_str(), 0750);
    REQUIRE(made);
    auto st = co_await couring::statx(AT_FDCWD, sub.c_str());
    REQUIRE(st);
    CHECK(S_ISDIR(st->stx_mode));
    CHECK((st->stx_mode & 0777) == (0750 & ~current_umask()));
    auto again = co_await couring::mkdir(sub.c_str());
    REQUIRE_FALSE(again);
    CHECK(again.error() == std::errc::file_exists);
  }());
  CHECK(fs::is_directory(sub));
}

TEST_CASE("mkdirat creates relative to a directory descriptor; a missing parent fails with no_such_file_or_directory",
          "[core][dir][mkdirat]") {
  temp_dir dir;
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto d = co_await couring::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(d);
    auto made = co_await couring::mkdirat(d->get(), "inner");
    REQUIRE(made);
    auto nested = co_await couring::mkdirat(d->get(), "inner/deeper", 0700);
    REQUIRE(nested);
    auto orphan = co_await couring::mkdirat(d->get(), "no/such/parent");
    REQUIRE_FALSE(orphan);
    CHECK(orphan.error() == std::errc::no_such_file_or_directory);
  }());
  CHECK(fs::is_directory(dir.file("inner/deeper")));
  CHECK_FALSE(fs::exists(dir.file("no")));
}

TEST_CASE("unlink removes a file; unlinking it again fails with no_such_file_or_directory", "[core][dir][unlinkat]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("victim", 10);
  run([&]() -> task<void> {
    auto gone = co_await couring::unlink(path.c_str());
    REQUIRE(gone);
    auto twice = co_await couring::unlink(path.c_str());
    REQUIRE_FALSE(twice);
    CHECK(twice.error() == std::errc::no_such_file_or_directory);
  }());
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("unlink of a directory fails with is_a_directory; rmdir removes it", "[core][dir][unlinkat]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string sub = dir.file("sub");
  fs::create_directory(sub);
  run([&]() -> task<void> {
    auto wrong = co_await couring::unlink(sub.c_str());
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error() == std::errc::is_a_directory);
    auto right = co_await couring::rmdir(sub.c_str());
    REQUIRE(right);
  }());
  CHECK_FALSE(fs::exists(sub));
}

TEST_CASE("rmdir of a non-empty directory fails with directory_not_empty and keeps it", "[core][dir][unlinkat]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string sub = dir.file("sub");
  fs::create_directory(sub);
  dir.make_pattern_file("sub/content", 1);
  run([&]() -> task<void> {
    auto r = co_await couring::rmdir(sub.c_str());
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::directory_not_empty);
    auto not_dir = co_await couring::rmdir(dir.file("sub/content").c_str());
    REQUIRE_FALSE(not_dir);
    CHECK(not_dir.error() == std::errc::not_a_directory);
  }());
  CHECK(fs::exists(dir.file("sub/content")));
}

TEST_CASE("unlinkat with AT_REMOVEDIR removes a directory relative to a directory descriptor", "[core][dir][unlinkat]") {
  temp_dir dir;
  fd_leak_check leaks;
  fs::create_directory(dir.file("a"));
  dir.make_pattern_file("f", 1);
  run([&]() -> task<void> {
    auto d = co_await couring::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(d);
    auto rd = co_await couring::unlinkat(d->get(), "a", AT_REMOVEDIR);
    REQUIRE(rd);
    auto rf = co_await couring::unlinkat(d->get(), "f");
    REQUIRE(rf);
  }());
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("rename moves a file and replaces an existing target; its contents follow", "[core][dir][renameat]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string from = dir.make_pattern_file("from", 7);
  std::string to = dir.make_pattern_file("to", 3);
  run([&]() -> task<void> {
    auto r = co_await couring::rename(from.c_str(), to.c_str());
    REQUIRE(r);
    auto gone = co_await couring::statx(AT_FDCWD, from.c_str());
    REQUIRE_FALSE(gone);
    CHECK(gone.error() == std::errc::no_such_file_or_directory);
    auto st = co_await couring::statx(AT_FDCWD, to.c_str());
    REQUIRE(st);
    CHECK(st->stx_size == 7);
  }());
  CHECK_FALSE(fs::exists(from));
  CHECK(fs::file_size(to) == 7);
}

TEST_CASE("renameat between directory descriptors, and RENAME_NOREPLACE refuses to replace", "[core][dir][renameat]") {
  temp_dir dir;
  fd_leak_check leaks;
  fs::create_directory(dir.file("a"));
  fs::create_directory(dir.file("b"));
  dir.make_pattern_file("a/x", 5);
  dir.make_pattern_file("b/y", 5);
  run([&]() -> task<void> {
    auto a = co_await couring::open(dir.file("a").c_str(), O_RDONLY | O_DIRECTORY);
    auto b = co_await couring::open(dir.file("b").c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(a);
    REQUIRE(b);
    auto refused = co_await couring::renameat(a->get(), "x", b->get(), "y", RENAME_NOREPLACE);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == std::errc::file_exists);
    auto moved = co_await couring::renameat(a->get(), "x", b->get(), "z", RENAME_NOREPLACE);
    REQUIRE(moved);
  }());
  CHECK_FALSE(fs::exists(dir.file("a/x")));
  CHECK(fs::exists(dir.file("b/y")));
  CHECK(fs::exists(dir.file("b/z")));
}

TEST_CASE("rename of a missing source fails with no_such_file_or_directory", "[core][dir][renameat]") {
  temp_dir dir;
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto r = co_await couring::rename(dir.file("nothing").c_str(), dir.file("else").c_str());
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::no_such_file_or_directory);
  }());
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("a directory tree built and torn down by many concurrent coroutines ends empty", "[core][dir]") {
  temp_dir dir;
  fd_leak_check leaks;
  constexpr int dirs = 50;
  int finished = 0;
  run([&]() -> task<void> {
    auto one = [&](int i) -> task<void> {
      std::string d = dir.file("d" + std::to_string(i));
      std::string f = d + "/file", g = d + "/renamed";
      auto m = co_await couring::mkdir(d.c_str());
      REQUIRE(m);
      auto fd = co_await couring::open(f.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
      REQUIRE(fd);
      auto c = co_await couring::close(std::move(*fd));
      REQUIRE(c);
      auto r = co_await couring::rename(f.c_str(), g.c_str());
      REQUIRE(r);
      auto u = co_await couring::unlink(g.c_str());
      REQUIRE(u);
      auto rd = co_await couring::rmdir(d.c_str());
      REQUIRE(rd);
      ++finished;
    };
    for (int i = 0; i < dirs; ++i) spawn(one(i));
    while (finished < dirs) co_await yield();
  }());
  CHECK(finished == dirs);
  CHECK(fs::is_empty(dir.path()));
}
