// File operations: what a caller of read/write/open/stat can rely on, on every backend.
#include "support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::pattern_byte;
using couring::testing::slurp;
using couring::testing::temp_dir;

TEST_CASE("a file written at offsets reads back byte for byte", "[core][file]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("data");
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(f);
    std::string first = "hello, ", second = "couring";
    auto w1 = co_await f->write_at(const_buffer_of(first), 0);
    auto w2 = co_await f->write_at(const_buffer_of(second), 7);
    REQUIRE(w1);
    REQUIRE(w2);
    CHECK(*w1 == 7);
    CHECK(*w2 == 7);
    std::array<char, 32> back{};
    auto r = co_await f->read_at(buffer(back), 0);
    REQUIRE(r);
    CHECK(std::string(back.data(), *r) == "hello, couring");
    auto closed = co_await f->close();  // never co_await inside a Catch macro: GCC 12 miscompiles it
    REQUIRE(closed);
    CHECK_FALSE(f->is_open());
  }());
  CHECK(slurp(path) == "hello, couring");
}

TEST_CASE("a read that starts before EOF and ends past it is short; at EOF it returns 0", "[core][file][read]") {
  temp_dir dir;
  std::string path = dir.make_pattern_file("ten", 10);
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    std::array<std::uint8_t, 64> buf{};
    auto short_read = co_await f->read_at(buffer(buf), 4);
    REQUIRE(short_read);
    CHECK(*short_read == 6);
    for (std::size_t i = 0; i < 6; ++i) CHECK(buf[i] == pattern_byte(4 + i));
    auto at_eof = co_await f->read_at(buffer(buf), 10);
    REQUIRE(at_eof);
    CHECK(*at_eof == 0);
  }());
}

TEST_CASE("opening a missing path fails with no_such_file_or_directory", "[core][file][openat]") {
  fd_leak_check leaks;
  auto r = run([]() -> task<result<file>> { co_return co_await file::open("/nonexistent/couring/x", O_RDONLY); }());
  REQUIRE_FALSE(r);
  CHECK(r.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("reads and writes at the current position move the file offset like read(2) and write(2)",
          "[core][file][read][write]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("sequential");
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(f);
    std::string first = "abc", second = "defg";
    auto w1 = co_await f->write(const_buffer_of(first));
    auto w2 = co_await f->write(const_buffer_of(second));
    REQUIRE(w1);
    REQUIRE(w2);
    CHECK(*w1 == 3);
    CHECK(*w2 == 4);
    CHECK(::lseek(f->fd(), 0, SEEK_CUR) == 7);

    REQUIRE(::lseek(f->fd(), 0, SEEK_SET) == 0);
    std::array<char, 5> buf{};
    auto r1 = co_await f->read(buffer(buf));
    REQUIRE(r1);
    CHECK(std::string(buf.data(), *r1) == "abcde");
    auto r2 = co_await f->read(buffer(buf));
    REQUIRE(r2);
    CHECK(std::string(buf.data(), *r2) == "fg");
    auto r3 = co_await f->read(buffer(buf));
    REQUIRE(r3);
    CHECK(*r3 == 0);
    CHECK(::lseek(f->fd(), 0, SEEK_CUR) == 7);
  }());
  CHECK(slurp(path) == "abcdefg");
}

TEST_CASE("positional reads and writes leave the file offset where it was", "[core][file][read][write]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("pattern", 4096);
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR);
    REQUIRE(f);
    std::array<std::uint8_t, 100> buf{};
    auto r = co_await f->read_at(buffer(buf), 1000);
    REQUIRE(r);
    REQUIRE(*r == buf.size());
    for (std::size_t i = 0; i < buf.size(); ++i) CHECK(buf[i] == pattern_byte(1000 + i));
    std::string patch = "XYZ";
    auto w = co_await f->write_at(const_buffer_of(patch), 4094);  // extends the file by one byte
    REQUIRE(w);
    CHECK(*w == 3);
    CHECK(::lseek(f->fd(), 0, SEEK_CUR) == 0);
  }());
  std::string back = slurp(path);
  REQUIRE(back.size() == 4097);
  CHECK(back.substr(4094) == "XYZ");
  CHECK(static_cast<std::uint8_t>(back[4093]) == pattern_byte(4093));
}

TEST_CASE("writev gathers its buffers in order and readv scatters the bytes back", "[core][file][readv][writev]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("vectored");
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(f);
    std::string a = "one ", b = "two ", c = "three";
    std::array<iovec, 3> out{{{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}}};
    auto w = co_await couring::writev(f->fd(), out, 0);
    REQUIRE(w);
    CHECK(*w == 13);

    std::array<char, 6> x{}, y{}, z{};
    std::array<iovec, 3> in{{{x.data(), x.size()}, {y.data(), y.size()}, {z.data(), z.size()}}};
    auto r = co_await couring::readv(f->fd(), in, 0);
    REQUIRE(r);
    CHECK(*r == 13);
    CHECK(std::string(x.data(), 6) == "one tw");
    CHECK(std::string(y.data(), 6) == "o thre");
    CHECK(std::string(z.data(), 1) == "e");

    // At the current position: the positional writev above did not move the offset.
    std::array<char, 4> p{}, q{};
    std::array<iovec, 2> seq{{{p.data(), p.size()}, {q.data(), q.size()}}};
    auto s = co_await couring::readv(f->fd(), seq);
    REQUIRE(s);
    CHECK(*s == 8);
    CHECK(std::string(p.data(), 4) + std::string(q.data(), 4) == "one two ");
    CHECK(::lseek(f->fd(), 0, SEEK_CUR) == 8);

    // writev at the current position continues from there.
    std::string tail = "2";
    std::array<iovec, 1> one{{{tail.data(), tail.size()}}};
    auto t = co_await couring::writev(f->fd(), one);
    REQUIRE(t);
    CHECK(*t == 1);
  }());
  CHECK(slurp(path) == "one two 2hree");
}

TEST_CASE("readv and writev on a closed descriptor fail with bad_file_descriptor", "[core][file][readv][writev]") {
  temp_dir dir;
  fd_leak_check leaks;
  run([&]() -> task<void> {
    int stale = couring::testing::closed_fd_number();
    std::array<char, 8> b{};
    std::array<iovec, 1> v{{{b.data(), b.size()}}};
    auto r = co_await couring::readv(stale, v, 0);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::bad_file_descriptor);
    auto w = co_await couring::writev(stale, v);
    REQUIRE_FALSE(w);
    CHECK(w.error() == std::errc::bad_file_descriptor);
  }());
}

TEST_CASE("openat resolves a relative path against a directory descriptor", "[core][file][openat]") {
  temp_dir dir;
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto d = co_await couring::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(d);
    auto created = co_await couring::openat(d->get(), "child", O_WRONLY | O_CREAT | O_EXCL, 0640);
    REQUIRE(created);
    std::string text = "inside";
    auto w = co_await couring::write(created->get(), const_buffer_of(text));
    REQUIRE(w);
    CHECK(*w == text.size());

    auto again = co_await couring::openat(d->get(), "child", O_WRONLY | O_CREAT | O_EXCL, 0640);
    REQUIRE_FALSE(again);
    CHECK(again.error() == std::errc::file_exists);

    auto missing = co_await couring::openat(d->get(), "nobody", O_RDONLY);
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);

    auto as_file = co_await file::open_at(d->get(), "child", O_RDONLY);
    REQUIRE(as_file);
    auto st = co_await as_file->stat();
    REQUIRE(st);
    CHECK((st->stx_mode & 07777) == 0640);
  }());
  CHECK(slurp(dir.file("child")) == "inside");
}

TEST_CASE("opened descriptors are close-on-exec whatever flags were given", "[core][file][openat]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("p", 1);
  run([&]() -> task<void> {
    auto fd = co_await couring::open(path.c_str(), O_RDONLY);
    REQUIRE(fd);
    int flags = ::fcntl(fd->get(), F_GETFD);
    CHECK((flags & FD_CLOEXEC) != 0);
  }());
}

TEST_CASE("close releases the descriptor; closing it again fails with bad_file_descriptor", "[core][file][close]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("p", 1);
  run([&]() -> task<void> {
    auto fd = co_await couring::open(path.c_str(), O_RDONLY);
    REQUIRE(fd);
    int raw = fd->release();
    auto first = co_await couring::close(raw);
    REQUIRE(first);
    CHECK(::fcntl(raw, F_GETFD) == -1);
    auto second = co_await couring::close(raw);
    REQUIRE_FALSE(second);
    CHECK(second.error() == std::errc::bad_file_descriptor);

    auto f = co_await file::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    auto closed = co_await f->close();
    REQUIRE(closed);
    CHECK_FALSE(f->is_open());
    auto closed_twice = co_await f->close();  // an empty file has nothing to close
    REQUIRE_FALSE(closed_twice);
    CHECK(closed_twice.error() == std::errc::bad_file_descriptor);
  }());
}

TEST_CASE("a file handle that is never closed explicitly closes its descriptor when destroyed", "[core][file][close]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("p", 1);
  std::size_t during = 0;
  std::size_t before = couring::testing::open_fd_count();
  run([&]() -> task<void> {
    {
      auto f = co_await file::open(path.c_str(), O_RDONLY);
      REQUIRE(f);
      during = couring::testing::open_fd_count();
    }
    CHECK(couring::testing::open_fd_count() == during - 1);
  }());
  CHECK(during > before);
}

TEST_CASE("statx reports the type and size of a path and of an open descriptor", "[core][file][statx]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("sized", 12345);
  run([&]() -> task<void> {
    auto by_path = co_await couring::statx(AT_FDCWD, path.c_str());
    REQUIRE(by_path);
    CHECK(S_ISREG(by_path->stx_mode));
    CHECK(by_path->stx_size == 12345);
    CHECK((by_path->stx_mask & STATX_SIZE) != 0);

    auto d = co_await couring::statx(AT_FDCWD, dir.path().c_str());
    REQUIRE(d);
    CHECK(S_ISDIR(d->stx_mode));

    auto f = co_await file::open(path.c_str(), O_RDWR);
    REQUIRE(f);
    std::string more = "more";
    auto w = co_await f->write_at(const_buffer_of(more), 12345);
    REQUIRE(w);
    auto by_fd = co_await couring::fstatx(f->fd());
    REQUIRE(by_fd);
    CHECK(by_fd->stx_size == 12349);
    CHECK(by_fd->stx_ino == by_path->stx_ino);

    auto rel = co_await couring::statx(AT_FDCWD, dir.path().c_str(), AT_SYMLINK_NOFOLLOW, STATX_TYPE);
    REQUIRE(rel);
    CHECK(S_ISDIR(rel->stx_mode));
  }());
}

TEST_CASE("statx of a missing path fails with no_such_file_or_directory; of a closed fd with bad_file_descriptor",
          "[core][file][statx]") {
  temp_dir dir;
  fd_leak_check leaks;
  run([&]() -> task<void> {
    int stale = couring::testing::closed_fd_number();
    auto missing = co_await couring::statx(AT_FDCWD, dir.file("missing").c_str());
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
    auto bad = co_await couring::fstatx(stale);
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == std::errc::bad_file_descriptor);
    auto null_path = co_await couring::statx(AT_FDCWD, nullptr);
    REQUIRE_FALSE(null_path);
    CHECK(null_path.error() == std::errc::bad_address);
  }());
}

TEST_CASE("fsync and fdatasync succeed on a written file", "[core][file][fsync]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.file("durable");
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(f);
    std::string text = "keep me";
    auto w = co_await f->write_at(const_buffer_of(text), 0);
    REQUIRE(w);
    auto s = co_await f->sync();
    CHECK(s);
    auto d = co_await f->datasync();
    CHECK(d);
    auto s2 = co_await couring::fsync(f->fd());
    CHECK(s2);
    auto d2 = co_await couring::fdatasync(f->fd());
    CHECK(d2);
  }());
  CHECK(slurp(path) == "keep me");
}

TEST_CASE("fsync and fdatasync of a pipe fail with invalid_argument; of a closed fd with bad_file_descriptor",
          "[core][file][fsync]") {
  fd_leak_check leaks;
  auto pipe = couring::testing::make_pipe();
  run([&]() -> task<void> {
    int stale = couring::testing::closed_fd_number();
    auto s = co_await couring::fsync(pipe.wr.get());
    REQUIRE_FALSE(s);
    CHECK(s.error() == std::errc::invalid_argument);
    auto d = co_await couring::fdatasync(pipe.wr.get());
    REQUIRE_FALSE(d);
    CHECK(d.error() == std::errc::invalid_argument);
    auto b = co_await couring::fsync(stale);
    REQUIRE_FALSE(b);
    CHECK(b.error() == std::errc::bad_file_descriptor);
    auto bd = co_await couring::fdatasync(stale);
    REQUIRE_FALSE(bd);
    CHECK(bd.error() == std::errc::bad_file_descriptor);
  }());
}

TEST_CASE("fallocate reserves space and grows the file; ftruncate sets its size", "[core][file][fallocate][ftruncate]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("sized", 100);
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR);
    REQUIRE(f);
    auto a = co_await f->allocate(0, 8192);
    REQUIRE(a);
    auto st = co_await f->stat();
    REQUIRE(st);
    CHECK(st->stx_size == 8192);
    CHECK(st->stx_blocks * 512 >= 8192);

    auto keep = co_await f->allocate(8192, 4096, FALLOC_FL_KEEP_SIZE);
    REQUIRE(keep);
    auto st_keep = co_await f->stat();
    REQUIRE(st_keep);
    CHECK(st_keep->stx_size == 8192);

    auto shrink = co_await f->truncate(10);
    REQUIRE(shrink);
    auto st2 = co_await f->stat();
    REQUIRE(st2);
    CHECK(st2->stx_size == 10);

    auto grow = co_await couring::ftruncate(f->fd(), 20);
    REQUIRE(grow);
    std::array<std::uint8_t, 32> buf{};
    auto r = co_await f->read_at(buffer(buf), 0);
    REQUIRE(r);
    REQUIRE(*r == 20);
    for (std::size_t i = 0; i < 10; ++i) CHECK(buf[i] == pattern_byte(i));
    for (std::size_t i = 10; i < 20; ++i) CHECK(buf[i] == 0);
  }());
}

TEST_CASE("ftruncate of a read-only descriptor and fallocate of a pipe fail with the kernel's error",
          "[core][file][fallocate][ftruncate]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("p", 100);
  auto pipe = couring::testing::make_pipe();
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    auto t = co_await f->truncate(10);
    REQUIRE_FALSE(t);
    CHECK(t.error() == std::errc::invalid_argument);
    auto a = co_await couring::fallocate(pipe.wr.get(), 0, 0, 4096);
    REQUIRE_FALSE(a);
    CHECK(a.error() == std::errc::invalid_seek);
    auto ra = co_await f->allocate(0, 4096);
    REQUIRE_FALSE(ra);
    CHECK(ra.error() == std::errc::bad_file_descriptor);  // not open for writing
  }());
  CHECK(slurp(path).size() == 100);
}

namespace {
// How many of a file's pages are in the page cache (mincore over a mapping that faults none in).
std::size_t resident_pages(int fd, std::size_t size) {
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  REQUIRE(map != MAP_FAILED);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in_core((size + page - 1) / page);
  REQUIRE(::mincore(map, size, in_core.data()) == 0);
  ::munmap(map, size);
  std::size_t resident = 0;
  for (unsigned char c : in_core) resident += c & 1;
  return resident;
}
}  // namespace

TEST_CASE("fadvise DONTNEED drops a synced file's cached pages and leaves its bytes intact", "[core][file][fadvise]") {
  temp_dir dir;
  fd_leak_check leaks;
  const std::size_t size = 1 << 20;
  std::string path = dir.make_pattern_file("advised", size);
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDWR);
    REQUIRE(f);
    REQUIRE(co_await f->sync());  // clean pages: the only ones DONTNEED may drop
    std::vector<char> warm(size);
    auto r = co_await f->read_at(buffer(warm), 0);
    REQUIRE(r);
    REQUIRE(*r == size);
    CHECK(resident_pages(f->fd(), size) > 0);
    auto dropped = co_await couring::fadvise(f->fd(), 0, 0, POSIX_FADV_DONTNEED);
    REQUIRE(dropped);
    CHECK(resident_pages(f->fd(), size) == 0);
    CHECK(co_await couring::fadvise(f->fd(), 0, size, POSIX_FADV_WILLNEED));
    CHECK(co_await couring::fadvise(f->fd(), 4096, 8192, POSIX_FADV_SEQUENTIAL));
  }());
  std::string bytes = slurp(path);
  REQUIRE(bytes.size() == size);
  for (std::size_t i = 0; i < size; ++i)
    if (bytes[i] != static_cast<char>(pattern_byte(i))) FAIL("byte " << i << " changed");
}

TEST_CASE("fadvise fails with posix_fadvise's errors: bad advice, a pipe, a bad descriptor or range",
          "[core][file][fadvise]") {
  temp_dir dir;
  fd_leak_check leaks;
  std::string path = dir.make_pattern_file("f", 100);
  auto pipe = couring::testing::make_pipe();
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    auto bad_advice = co_await couring::fadvise(f->fd(), 0, 0, 12345);
    REQUIRE_FALSE(bad_advice);
    CHECK(bad_advice.error() == std::errc::invalid_argument);
    auto on_pipe = co_await couring::fadvise(pipe.rd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    REQUIRE_FALSE(on_pipe);
    CHECK(on_pipe.error() == std::errc::invalid_seek);
    auto bad_fd = co_await couring::fadvise(-1, 0, 0, POSIX_FADV_NORMAL);
    REQUIRE_FALSE(bad_fd);
    CHECK(bad_fd.error() == std::errc::bad_file_descriptor);
    auto negative = co_await couring::fadvise(f->fd(), -1, 10, POSIX_FADV_NORMAL);
    REQUIRE_FALSE(negative);
    CHECK(negative.error() == std::errc::invalid_argument);
  }());
}

TEST_CASE("a large file round-trips through many concurrent positional reads", "[core][file][read]") {
  temp_dir dir;
  fd_leak_check leaks;
  constexpr std::size_t block = 4096, blocks = 64;
  std::string path = dir.make_pattern_file("big", block * blocks);
  std::size_t verified = 0;
  run([&]() -> task<void> {
    auto f = co_await file::open(path.c_str(), O_RDONLY);
    REQUIRE(f);
    auto read_block = [&](std::size_t i) -> task<void> {
      std::vector<std::uint8_t> buf(block);
      auto r = co_await f->read_at(buffer(buf), static_cast<std::int64_t>(i * block));
      REQUIRE(r);
      REQUIRE(*r == block);
      for (std::size_t k = 0; k < block; ++k) {
        if (buf[k] != pattern_byte(i * block + k)) FAIL("byte " << k << " of block " << i);
      }
      ++verified;
    };
    for (std::size_t i = 0; i < blocks; ++i) spawn(read_block(i));
    while (verified < blocks) co_await yield();
  }());
  CHECK(verified == blocks);
}
