// Many fibers doing I/O at once: 10,000 fibers, all alive together, each writing a record to a
// shared file, sending it over a shared socket, receiving some other fiber's record and checking
// it against what that fiber wrote to the file. Every result is checked.
#include "fiber_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace couring;
using couring::testing::fd_leak_check;
using couring::testing::temp_dir;
namespace t = couring::testing;

namespace {

constexpr std::size_t record_size = 32;
using record = std::array<char, record_size>;

record make_record(std::size_t id) {
  record r{};
  std::snprintf(r.data(), r.size(), "fiber %06zu says %08zx", id, id * 2654435761u);
  return r;
}

// Parses the id back; npos when the bytes are not a record.
std::size_t record_id(const record& r) {
  std::size_t id = 0;
  if (std::sscanf(r.data(), "fiber %06zu", &id) != 1) return std::string::npos;
  return make_record(id) == r ? id : std::string::npos;
}

// What each fiber saw; checked on the test thread once all are done.
struct outcome {
  bool wrote = false;
  bool sent = false;
  bool received = false;
  bool read_back = false;
  bool same_pair = false;
  bool matches_file = false;
  std::size_t got = std::string::npos;  // whose record it received
};

struct shared_io {
  int file_fd = -1;
  std::vector<t::fd_pair>* pairs = nullptr;
  std::vector<outcome>* outcomes = nullptr;
  std::size_t alive = 0;
  std::size_t most_alive = 0;
};

std::size_t fiber_body(shared_io& io, std::size_t id) {
  ++io.alive;
  if (io.alive > io.most_alive) io.most_alive = io.alive;
  outcome& o = (*io.outcomes)[id];
  const std::size_t pair = id % io.pairs->size();
  const record mine = make_record(id);
  const auto offset = static_cast<std::int64_t>(id * record_size);

  auto w = blocking::write_at(io.file_fd, buffer(mine.data(), mine.size()), offset);
  o.wrote = w && *w == record_size;

  // The record goes out only after it is in the file, so whoever receives it can read it there.
  auto s = blocking::send((*io.pairs)[pair].first.get(), buffer(mine.data(), mine.size()));
  o.sent = s && *s == record_size;

  record theirs{};
  auto r = blocking::recv((*io.pairs)[pair].second.get(), buffer(theirs));
  o.received = r && *r == record_size;
  o.got = record_id(theirs);

  if (o.got != std::string::npos) {
    o.same_pair = o.got % io.pairs->size() == pair;
    record in_file{};
    auto rb = blocking::read_at(io.file_fd, buffer(in_file), static_cast<std::int64_t>(o.got * record_size));
    o.read_back = rb && *rb == record_size;
    o.matches_file = in_file == theirs;
  }
  --io.alive;
  return o.got;
}

}  // namespace

TEST_CASE("10,000 fibers do file and socket I/O concurrently, every result checked", "[fiber][io][scale]") {
  const std::size_t fibers = 10'000;
  const std::size_t socket_pairs = 50;  // 200 fibers share each pair: 100 descriptors in all
  temp_dir dir;
  std::string path = dir.file("records");
  fd_leak_check leaks;
  std::vector<outcome> outcomes(fibers);
  std::vector<std::size_t> joined(fibers, std::string::npos);
  shared_io io;
  {
    std::vector<t::fd_pair> pairs;
    for (std::size_t i = 0; i < socket_pairs; ++i) pairs.push_back(t::socket_pair(SOCK_SEQPACKET));
    unique_fd file(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(file.valid());
    io.file_fd = file.get();
    io.pairs = &pairs;
    io.outcomes = &outcomes;

    run([&]() -> task<void> {
      std::vector<fiber<std::size_t>> all;
      all.reserve(fibers);
      for (std::size_t i = 0; i < fibers; ++i) all.push_back(spawn_fiber([&io, i] { return fiber_body(io, i); }));
      for (std::size_t i = 0; i < fibers; ++i) joined[i] = co_await all[i];
    }());
    for (const t::fd_pair& p : pairs) {
      CHECK(t::drain(p.first.get()) == 0);
      CHECK(t::drain(p.second.get()) == 0);
    }
  }

  // Every fiber was alive at once (each started and suspended in its first op before any ended).
  CHECK(io.most_alive == fibers);
  CHECK(io.alive == 0);

  std::size_t wrote = 0, sent = 0, received = 0, read_back = 0, same_pair = 0, matches = 0, joined_right = 0;
  std::vector<int> times_received(fibers, 0);
  for (std::size_t i = 0; i < fibers; ++i) {
    const outcome& o = outcomes[i];
    wrote += o.wrote;
    sent += o.sent;
    received += o.received;
    read_back += o.read_back;
    same_pair += o.same_pair;
    matches += o.matches_file;
    joined_right += joined[i] == o.got;
    if (o.got < fibers) ++times_received[o.got];
  }
  CHECK(wrote == fibers);
  CHECK(sent == fibers);
  CHECK(received == fibers);
  CHECK(read_back == fibers);
  CHECK(same_pair == fibers);
  CHECK(matches == fibers);
  CHECK(joined_right == fibers);
  std::size_t exactly_once = 0;
  for (int n : times_received) exactly_once += n == 1;
  CHECK(exactly_once == fibers);  // every record was received by exactly one fiber

  std::string contents = t::slurp(path);
  REQUIRE(contents.size() == fibers * record_size);
  std::size_t intact = 0;
  for (std::size_t i = 0; i < fibers; ++i) {
    record r = make_record(i);
    intact += std::memcmp(contents.data() + i * record_size, r.data(), record_size) == 0;
  }
  CHECK(intact == fibers);
}

TEST_CASE("fibers and tasks share the loop: 1,000 of each ping-pong over pipes", "[fiber][io]") {
  const std::size_t pairs_count = 1'000;  // 2,000 descriptors
  fd_leak_check leaks;
  std::vector<t::fd_pair> pipes;
  for (std::size_t i = 0; i < 2 * pairs_count; ++i) pipes.push_back(t::pipe_pair());
  std::size_t fiber_ok = 0, task_ok = 0;

  struct ends {
    int task_to_fiber_r, task_to_fiber_w, fiber_to_task_r, fiber_to_task_w;
  };
  auto task_side = [](ends e, std::size_t* ok) -> task<void> {
    std::array<char, 8> buf{};
    for (int round = 0; round < 3; ++round) {
      auto w = co_await couring::write(e.task_to_fiber_w, const_buffer_of(std::string("ping") + char('0' + round)));
      if (!w) co_return;
      auto r = co_await couring::read_exactly(e.fiber_to_task_r, buffer(buf.data(), 5));
      if (!r || std::string(buf.data(), 5) != std::string("pong") + char('0' + round)) co_return;
    }
    ++*ok;
  };
  run([&]() -> task<void> {
    std::vector<fiber<bool>> fibers;
    std::vector<task<void>> tasks;
    for (std::size_t i = 0; i < pairs_count; ++i) {
      ends e{pipes[2 * i].first.get(), pipes[2 * i].second.get(), pipes[2 * i + 1].first.get(),
             pipes[2 * i + 1].second.get()};
      fibers.push_back(spawn_fiber([e] {
        std::array<char, 8> buf{};
        for (int round = 0; round < 3; ++round) {
          auto r = blocking::read_exactly(e.task_to_fiber_r, buffer(buf.data(), 5));
          if (!r || std::string(buf.data(), 5) != std::string("ping") + char('0' + round)) return false;
          auto w = blocking::write_all(e.fiber_to_task_w, const_buffer_of(std::string("pong") + char('0' + round)));
          if (!w) return false;
        }
        return true;
      }));
      tasks.push_back(task_side(e, &task_ok));
    }
    co_await when_all(std::move(tasks));
    for (auto& f : fibers) {
      bool ok = co_await f;
      fiber_ok += ok;
    }
  }());
  CHECK(fiber_ok == pairs_count);
  CHECK(task_ok == pairs_count);
}
