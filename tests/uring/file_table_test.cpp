// Registered files: a file_table's slots behave like descriptors on every backend. Installed
// descriptors, direct accepts and opens, removal, a full table and a table the kernel refused
// all give the same results; natively a direct accept or open leaves no descriptor in the process.
#include "uring_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>

using namespace couring;
using namespace couring::testing;
using namespace std::chrono_literals;

namespace {

std::string text_of(const std::array<char, 64>& buf, std::size_t n) { return std::string(buf.data(), n); }

// A table the ring holds, on a backend that runs this kind natively: the op names the slot.
bool direct(const file_table& t, std::size_t kind) { return t.in_kernel() && runs_natively(kind); }

}  // namespace

TEST_CASE("an installed descriptor is the table's own copy: reads and writes through the slot are byte-exact",
          "[uring][file_table]") {
  fd_leak_check leaks;
  temp_dir dir;
  std::string path = dir.file("data");
  run([&]() -> task<void> {
    file_table files(4);
    fixed_fd slot{};
    {
      unique_fd mine(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
      REQUIRE(mine.valid());
      auto installed = files.install(mine.get());
      REQUIRE(installed);
      slot = *installed;
    }  // the caller's descriptor is closed: the slot keeps working
    std::string hello = "hello, slot";
    auto w = co_await files.write_at(slot, const_buffer_of(hello), 3);
    REQUIRE(w);
    CHECK(*w == hello.size());
    std::array<char, 64> buf{};
    auto r = co_await files.read_at(slot, buffer(buf), 3);
    REQUIRE(r);
    CHECK(text_of(buf, *r) == hello);
  }());
  CHECK(slurp(path) == std::string(3, '\0') + "hello, slot");
}

TEST_CASE("a removed slot fails with EBADF, removing it again is EBADF, and the slot is reused", "[uring][file_table]") {
  fd_leak_check leaks;
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 64);
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  run([&]() -> task<void> {
    file_table files(1);
    auto slot = files.install(fd.get());
    REQUIRE(slot);
    REQUIRE(files.remove(*slot));
    std::array<char, 64> buf{};
    auto r = co_await files.read_at(*slot, buffer(buf), 0);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::bad_file_descriptor);
    auto again = files.remove(*slot);
    REQUIRE_FALSE(again);
    CHECK(again.error() == std::errc::bad_file_descriptor);
    auto out_of_range = files.remove(fixed_fd{7});
    REQUIRE_FALSE(out_of_range);
    CHECK(out_of_range.error() == std::errc::bad_file_descriptor);
    auto reused = files.install(fd.get());
    REQUIRE(reused);
    CHECK(reused->slot == slot->slot);
    auto r2 = co_await files.read_at(*reused, buffer(buf), 0);
    REQUIRE(r2);
    CHECK(*r2 == 64);
  }());
}

TEST_CASE("a full table refuses install, open and accept with EMFILE and leaks nothing", "[uring][file_table]") {
  fd_leak_check leaks;
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 16);
  run([&]() -> task<void> {
    auto [listener, at] = listen_on_loopback();
    file_table files(2);
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(files.install(fd.get()));
    auto second = co_await files.open(path.c_str(), O_RDONLY);
    REQUIRE(second);
    auto third = files.install(fd.get());
    REQUIRE_FALSE(third);
    CHECK(third.error() == std::errc::too_many_files_open);
    auto opened = co_await files.open(path.c_str(), O_RDONLY);
    REQUIRE_FALSE(opened);
    CHECK(opened.error() == std::errc::too_many_files_open);
    auto accepted = co_await files.accept(listener.fd());  // refused before waiting for a client
    REQUIRE_FALSE(accepted);
    CHECK(accepted.error() == std::errc::too_many_files_open);
    // Freeing a slot makes room again.
    REQUIRE(files.remove(*second));
    auto after = co_await files.open(path.c_str(), O_RDONLY);
    REQUIRE(after);
    CHECK(after->slot == second->slot);
  }());
}

TEST_CASE("accept straight into a slot: bytes flow both ways; natively no descriptor enters the process",
          "[uring][file_table][accept]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto [listener, at] = listen_on_loopback();
    file_table files(8);
    auto client = co_await tcp_stream::connect(at);
    REQUIRE(client);
    const std::size_t fds_before = open_fd_count();
    auto conn = co_await files.accept(listener.fd());
    REQUIRE(conn);
    const bool is_direct = direct(files, request_index<accept_req>());
    CHECK(open_fd_count() == fds_before + (is_direct ? 0 : 1));

    std::string ping = "ping through a slot", pong = "pong";
    auto sent = co_await send_all(client->fd(), const_buffer_of(ping));
    REQUIRE(sent);
    std::array<char, 64> buf{};
    std::size_t got = 0;
    while (got < ping.size()) {
      auto r = co_await files.recv(*conn, buffer(buf.data() + got, buf.size() - got));
      REQUIRE(r);
      REQUIRE(*r > 0);
      got += *r;
    }
    CHECK(text_of(buf, got) == ping);
    auto s = co_await files.send(*conn, const_buffer_of(pong));
    REQUIRE(s);
    CHECK(*s == pong.size());
    auto back = co_await client->recv(buffer(buf));
    REQUIRE(back);
    CHECK(text_of(buf, *back) == pong);

    // Removing the slot closes the server's end: the client sees end of file.
    REQUIRE(files.remove(*conn));
    auto eof = co_await client->recv(buffer(buf));
    REQUIRE(eof);
    CHECK(*eof == 0);
  }());
}

TEST_CASE("open straight into a slot: the file is read and written through it", "[uring][file_table][open]") {
  fd_leak_check leaks;
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 1000);
  run([&]() -> task<void> {
    file_table files(4);
    const std::size_t fds_before = open_fd_count();
    auto slot = co_await files.open(path.c_str(), O_RDWR);
    REQUIRE(slot);
    CHECK(open_fd_count() == fds_before + (direct(files, request_index<openat_req>()) ? 0 : 1));
    std::array<char, 64> buf{};
    auto r = co_await files.read_at(*slot, buffer(buf), 500);
    REQUIRE(r);
    REQUIRE(*r == buf.size());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < buf.size(); ++i) wrong += static_cast<std::uint8_t>(buf[i]) != pattern_byte(500 + i);
    CHECK(wrong == 0);
    std::string mark = "MARK";
    auto w = co_await files.write_at(*slot, const_buffer_of(mark), 998);
    REQUIRE(w);
    CHECK(*w == 4);
    auto missing = co_await files.open(dir.file("missing").c_str(), O_RDONLY);
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
  }());
  std::string contents = slurp(path);
  CHECK(contents.size() == 1002);
  CHECK(contents.substr(998) == "MARK");
}

TEST_CASE("destroying a table closes every descriptor it holds", "[uring][file_table]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto [listener, at] = listen_on_loopback();
    auto client = co_await tcp_stream::connect(at);
    REQUIRE(client);
    {
      file_table files(2);
      auto conn = co_await files.accept(listener.fd());
      REQUIRE(conn);
    }
    std::array<char, 8> buf{};
    auto eof = co_await client->recv(buffer(buf)).with_timeout(10s);
    REQUIRE(eof);
    CHECK(*eof == 0);
  }());
}

TEST_CASE("a recv in flight on a slot completes on that socket after the slot is removed", "[uring][file_table]") {
  fd_leak_check leaks;
  run([&]() -> task<void> {
    auto conn = co_await loopback_tcp();
    REQUIRE(conn);
    file_table files(1);
    auto slot = files.install(conn->far.fd());
    REQUIRE(slot);
    std::array<char, 64> buf{};
    auto pending = [&]() -> task<result<std::size_t>> { co_return co_await files.recv(*slot, buffer(buf)).with_timeout(5s); };
    auto remove_then_send = [&]() -> task<void> {
      co_await yield();
      co_await yield();
      REQUIRE(files.remove(*slot));
      // Whatever number the slot's descriptor had may be handed out again now: the recv must
      // still be reading the socket, not this.
      unique_fd decoy(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
      REQUIRE(decoy.valid());
      std::string late = "late";
      auto sent = co_await send_all(conn->near.fd(), const_buffer_of(late));
      REQUIRE(sent);
    };
    auto [received, unused] = co_await when_all(pending(), remove_then_send());
    (void)unused;
    INFO("recv: " << (received ? std::string("ok") : received.error().message()));
    REQUIRE(received);
    CHECK(text_of(buf, *received) == "late");
  }());
}

TEST_CASE("a table larger than RLIMIT_NOFILE is refused by the kernel and works on plain descriptors",
          "[uring][file_table][fallback]") {
  fd_leak_check leaks;
  rlimit lim{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  REQUIRE(lim.rlim_cur < 1'000'000);  // the kernel's own cap on a table is 2^20 slots
  const auto slots = static_cast<unsigned>(lim.rlim_cur + 1);
  temp_dir dir;
  std::string path = dir.make_pattern_file("data", 256);
  run([&]() -> task<void> {
    file_table files(slots);
    CHECK_FALSE(files.in_kernel());
    CHECK(files.size() == slots);
    auto opened = co_await files.open(path.c_str(), O_RDONLY);
    REQUIRE(opened);
    std::array<char, 64> buf{};
    auto r = co_await files.read_at(*opened, buffer(buf), 10);
    REQUIRE(r);
    REQUIRE(*r == buf.size());
    CHECK(static_cast<std::uint8_t>(buf[0]) == pattern_byte(10));
    // Linked chains over such a table run member by member, on plain descriptors.
    std::array<char, 64> again{};
    auto [c1, c2] = co_await chain(files.read_at(*opened, buffer(buf), 0), files.read_at(*opened, buffer(again), 64));
    REQUIRE(c1);
    REQUIRE(c2);
    CHECK(static_cast<std::uint8_t>(again[0]) == pattern_byte(64));
  }());
}

TEST_CASE("splice and tee between slots: both descriptors are the slots', the bytes exact", "[uring][file_table][splice]") {
  fd_leak_check leaks;
  temp_dir dir;
  std::string path = dir.file("data");
  {
    unique_fd w(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(::write(w.get(), "0123456789", 10) == 10);
  }
  int first[2], second[2];
  REQUIRE(::pipe2(first, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(second, O_CLOEXEC) == 0);
  unique_fd first_out(first[0]), first_in(first[1]), second_out(second[0]), second_in(second[1]);
  unique_fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(file.valid());
  run([&]() -> task<void> {
    file_table files(4);
    // Slots numbered unlike the descriptors, so that a slot number taken for a descriptor fails.
    auto spare = files.install(second_out.get());
    auto file_slot = files.install(file.get());
    auto pipe_in = files.install(first_in.get());
    auto pipe_out = files.install(first_out.get());
    REQUIRE((spare && file_slot && pipe_in && pipe_out));
    auto tee_in = files.install(second_in.get());
    REQUIRE_FALSE(tee_in);  // the table has four slots
    CHECK(tee_in.error() == std::errc::too_many_files_open);
    REQUIRE(files.remove(*spare));
    auto second_slot = files.install(second_in.get());
    REQUIRE(second_slot);

    auto spliced = co_await files.splice(*file_slot, 3, *pipe_in, current_position, 5);
    REQUIRE(spliced);
    CHECK(*spliced == 5);
    auto teed = co_await files.tee(*pipe_out, *second_slot, 5);
    REQUIRE(teed);
    CHECK(*teed == 5);
  }());
  std::array<char, 16> a{}, b{};
  CHECK(::read(first[0], a.data(), a.size()) == 5);
  CHECK(std::string(a.data(), 5) == "34567");
  CHECK(::read(second[0], b.data(), b.size()) == 5);
  CHECK(std::string(b.data(), 5) == "34567");
}
