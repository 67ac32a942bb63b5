// The cancellation storm: 100,000 ops on files, sockets, pipes and timers, cancelled at random
// points (before submission, after a random number of loop turns, by a random deadline, or not
// at all) while their peers produce data at random points too. Every op must resume exactly
// once, end in one of its allowed outcomes, and account for every byte, connection and fd.
//
// Under ASan/TSan the count is divided by 4 (25,000 ops), which still covers every kind x mode x
// interleaving combination thousands of times; COURING_TEST_ITERATIONS_PERCENT overrides it.
#include "cancel_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace couring;
using namespace std::chrono_literals;
using couring::testing::fd_leak_check;
using couring::testing::outcome;
using couring::testing::temp_dir;
namespace t = couring::testing;

namespace {

enum class kind { recv, send, read_at, openat, sleep, accept, poll, nop, count_ };
enum class mode { before_submit, after_turns, deadline, never, count_ };

constexpr std::size_t kinds = static_cast<std::size_t>(kind::count_);
constexpr std::size_t modes = static_cast<std::size_t>(mode::count_);
constexpr std::size_t file_size = 4096;

const char* kind_name(kind k) {
  static const char* names[] = {"recv", "send", "read_at", "openat", "sleep", "accept", "poll", "nop"};
  return names[static_cast<std::size_t>(k)];
}

// One lane runs its ops one after another on descriptors of its own; lanes run concurrently.
struct lane {
  t::fd_pair sock;   // first: ours, second: the peer
  t::fd_pair pipe;   // first: read end, second: write end
  unix_listener listener;
  std::string listener_path;
  std::string file_path;
  unique_fd file_fd;
};

struct storm_state {
  std::vector<std::uint8_t> resumed;  // per op: how many times its awaiter came back
  std::array<std::array<std::size_t, 4>, kinds> outcomes{};  // kind x outcome class
  std::size_t unexpected = 0;
  std::string first_failure;
};

// The plan for one op, drawn from the lane's RNG.
struct op_plan {
  std::size_t id;
  kind k;
  mode m;
  int cancel_turn;   // after_turns: loop turns before the stop
  int produce_turn;  // when the peer produces (data, a connection); -1: never
  int deadline_us;   // deadline: microseconds from submission
  int recv_len;      // recv: bytes the peer sends
  int offset;        // read_at: where
};

// What the op observed, filled by run_op.
struct op_result {
  outcome o = outcome::other_error;
  std::error_code error;
  std::size_t bytes = 0;
  std::array<char, 64> buf{};
  unix_stream accepted;
  file opened;
};

void fail(storm_state* s, const op_plan& p, const std::string& why) {
  ++s->unexpected;
  if (s->first_failure.empty()) {
    s->first_failure = "op " + std::to_string(p.id) + " (" + kind_name(p.k) + ", mode " +
                       std::to_string(static_cast<int>(p.m)) + "): " + why;
  }
}

template <class Op>
decltype(auto) maybe_deadline(Op&& op, int deadline_us) {
  if (deadline_us >= 0) return std::move(op).with_timeout(std::chrono::microseconds(deadline_us));
  return std::move(op);
}

template <class R>
void note(op_result* out, const R& r) {
  out->error = r ? std::error_code{} : r.error();
  out->o = t::classify(out->error);
}

task<void> run_op(lane* l, const op_plan* p, stop_token tok, storm_state* s, op_result* out) {
  const int d = p->m == mode::deadline ? p->deadline_us : -1;
  switch (p->k) {
    case kind::recv: {
      auto r = co_await maybe_deadline(couring::recv(l->sock.first.get(), buffer(out->buf.data(), 16)).with_token(tok), d);
      note(out, r);
      if (r) out->bytes = *r;
      break;
    }
    case kind::send: {
      auto r = co_await maybe_deadline(couring::send(l->sock.first.get(), const_buffer_of(std::string_view("ping"))).with_token(tok), d);
      note(out, r);
      if (r) out->bytes = *r;
      break;
    }
    case kind::read_at: {
      auto r = co_await maybe_deadline(couring::read_at(l->file_fd.get(), buffer(out->buf), p->offset).with_token(tok), d);
      note(out, r);
      if (r) out->bytes = *r;
      break;
    }
    case kind::openat: {
      auto r = co_await maybe_deadline(file::open(l->file_path.c_str(), O_RDONLY).with_token(tok), d);
      note(out, r);
      if (r) out->opened = std::move(*r);
      break;
    }
    case kind::sleep: {
      auto r = co_await maybe_deadline(sleep_for(std::chrono::microseconds(p->offset % 300)).with_token(tok), d);
      note(out, r);
      break;
    }
    case kind::accept: {
      auto r = co_await maybe_deadline(l->listener.accept().with_token(tok), d);
      note(out, r);
      if (r) out->accepted = std::move(*r);
      break;
    }
    case kind::poll: {
      auto r = co_await maybe_deadline(couring::poll(l->pipe.first.get(), POLLIN).with_token(tok), d);
      note(out, r);
      if (r) out->bytes = *r;
      break;
    }
    case kind::nop:
    case kind::count_: {
      auto r = co_await maybe_deadline(nop().with_token(tok), d);
      note(out, r);
      break;
    }
  }
  ++s->resumed[p->id];
}

// The other side of one op: produces (data, a connection) and stops at the planned loop turns.
task<void> drive(lane* l, const op_plan* p, stop_source* src, unique_fd* client, bool* produced) {
  const int last = std::max(p->cancel_turn, p->produce_turn);
  for (int turn = 0; turn <= last; ++turn) {
    if (turn == p->produce_turn) {
      *produced = true;
      switch (p->k) {
        case kind::recv: {
          char data[8];
          for (int i = 0; i < p->recv_len; ++i) data[i] = static_cast<char>('a' + i);
          REQUIRE(::send(l->sock.second.get(), data, static_cast<std::size_t>(p->recv_len), 0) == p->recv_len);
          break;
        }
        case kind::accept: *client = t::connect_unix(l->listener_path); break;
        case kind::poll: REQUIRE(::write(l->pipe.second.get(), "!", 1) == 1); break;
        default: break;
      }
    }
    if (turn == p->cancel_turn && p->m == mode::after_turns) src->request_stop();
    if (turn < last) co_await yield();
  }
}

bool needs_producer(kind k) { return k == kind::recv || k == kind::accept || k == kind::poll; }

// Checks one finished op against what its kind and plan allow, and that it left nothing behind.
void check(lane* l, const op_plan& p, op_result& r, bool produced, storm_state* s) {
  s->outcomes[static_cast<std::size_t>(p.k)][static_cast<std::size_t>(r.o)]++;
  if (r.o == outcome::other_error) return fail(s, p, "error " + r.error.message());
  if (p.m == mode::before_submit && r.o != outcome::canceled) return fail(s, p, "stopped before submission, yet not canceled");
  if (p.m == mode::never && r.o != outcome::value) return fail(s, p, std::string("never cancelled, yet ") + t::name_of(r.o));
  if (r.o == outcome::timed_out && p.m != mode::deadline) return fail(s, p, "timed_out without a deadline");
  if (r.o == outcome::canceled && p.m != mode::before_submit && p.m != mode::after_turns)
    return fail(s, p, "canceled without a stop");
  const bool value = r.o == outcome::value;
  switch (p.k) {
    case kind::recv: {
      const std::size_t left = t::drain(l->sock.first.get());
      const std::size_t sent = produced ? static_cast<std::size_t>(p.recv_len) : 0;
      if (value) {
        if (r.bytes == 0 || r.bytes > sent) return fail(s, p, "recv got " + std::to_string(r.bytes) + " of " + std::to_string(sent));
        for (std::size_t i = 0; i < r.bytes; ++i)
          if (r.buf[i] != static_cast<char>('a' + i)) return fail(s, p, "recv got the wrong bytes");
      }
      if (left + r.bytes != sent) return fail(s, p, "bytes lost or duplicated: sent " + std::to_string(sent) + ", got " +
                                                        std::to_string(r.bytes) + ", left " + std::to_string(left));
      break;
    }
    case kind::send: {
      const std::size_t arrived = t::drain(l->sock.second.get());
      if (value && r.bytes != 4) return fail(s, p, "short send into an empty socket");
      if (arrived != (value ? r.bytes : 0)) return fail(s, p, "the peer got " + std::to_string(arrived) + " bytes");
      break;
    }
    case kind::read_at:
      if (value) {
        if (r.bytes != r.buf.size()) return fail(s, p, "short read inside the file");
        for (std::size_t i = 0; i < r.bytes; ++i)
          if (static_cast<std::uint8_t>(r.buf[i]) != t::pattern_byte(static_cast<std::uint64_t>(p.offset) + i))
            return fail(s, p, "read the wrong bytes");
      }
      break;
    case kind::openat:
      if (value != r.opened.is_open()) return fail(s, p, "an opened fd is not owned by the result");
      break;
    case kind::accept: {
      const std::size_t backlog = t::drain_backlog(l->listener.fd());
      if (value && !produced) return fail(s, p, "accepted a connection nobody made");
      if (value != r.accepted.is_open()) return fail(s, p, "an accepted fd is not owned by the result");
      if (backlog + (value ? 1 : 0) != (produced ? 1u : 0u)) return fail(s, p, "a connection was lost or duplicated");
      break;
    }
    case kind::poll: {
      const std::size_t left = t::drain(l->pipe.first.get());
      if (value && !(r.bytes & POLLIN)) return fail(s, p, "poll ready without POLLIN");
      if (value && !produced) return fail(s, p, "poll ready on an empty pipe");
      if (left != (produced ? 1u : 0u)) return fail(s, p, "the pipe lost its byte");
      break;
    }
    default: break;
  }
}

task<void> run_lane(lane* l, std::size_t first_id, std::size_t count, std::uint32_t seed, storm_state* s) {
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < count; ++i) {
    op_plan p{};
    p.id = first_id + i;
    p.k = static_cast<kind>(rng() % kinds);
    p.m = static_cast<mode>(rng() % modes);
    p.cancel_turn = static_cast<int>(rng() % 4);
    p.produce_turn = static_cast<int>(rng() % 5) - 1;  // -1 (never) one time in five
    if (p.m == mode::never && needs_producer(p.k) && p.produce_turn < 0) p.produce_turn = 0;
    p.deadline_us = static_cast<int>(rng() % 200);
    p.recv_len = 1 + static_cast<int>(rng() % 8);
    p.offset = static_cast<int>(rng() % (file_size - 64));

    stop_source src;
    if (p.m == mode::before_submit) src.request_stop();
    op_result r;
    unique_fd client;
    bool produced = false;
    co_await when_all(run_op(l, &p, src.token(), s, &r), drive(l, &p, &src, &client, &produced));
    check(l, p, r, produced, s);
  }
}

task<void> storm(std::vector<std::unique_ptr<lane>>* lanes, std::size_t ops, storm_state* s) {
  std::vector<task<void>> all;
  const std::size_t per_lane = ops / lanes->size();
  for (std::size_t i = 0; i < lanes->size(); ++i)
    all.push_back(run_lane((*lanes)[i].get(), i * per_lane, per_lane, t::test_seed(0x5702u) + static_cast<std::uint32_t>(i), s));
  co_await when_all(std::move(all));
}

TEST_CASE("a storm of ops cancelled at random points: each resumes once, nothing is lost or leaked",
          "[cancel][storm]") {
  constexpr std::size_t lane_count = 32;
  const std::size_t ops = t::scaled(100'000, 4) / lane_count * lane_count;
  temp_dir dir;
  std::string data = dir.make_pattern_file("data", file_size);
  fd_leak_check leaks;
  storm_state s;
  s.resumed.assign(ops, 0);
  {
    std::vector<std::unique_ptr<lane>> lanes;
    for (std::size_t i = 0; i < lane_count; ++i) {
      auto l = std::make_unique<lane>();
      l->sock = t::socket_pair();
      l->pipe = t::pipe_pair();
      l->listener_path = dir.file("listener-" + std::to_string(i));
      l->listener = unix_listener::bind(l->listener_path).value();
      l->file_path = data;
      l->file_fd.reset(::open(data.c_str(), O_RDONLY | O_CLOEXEC));
      REQUIRE(l->file_fd);
      lanes.push_back(std::move(l));
    }
    run(storm(&lanes, ops, &s));
  }
  std::size_t not_once = 0;
  for (auto n : s.resumed) not_once += n != 1;
  CHECK(not_once == 0);
  INFO(s.first_failure);
  CHECK(s.unexpected == 0);

  std::printf("storm: %zu ops\n", ops);
  std::array<std::size_t, 4> by_outcome{};
  for (std::size_t k = 0; k < kinds; ++k) {
    const auto& o = s.outcomes[k];
    std::printf("  %-8s value %6zu  canceled %6zu  timed_out %6zu  other %zu\n", kind_name(static_cast<kind>(k)), o[0],
                o[1], o[2], o[3]);
    for (std::size_t c = 0; c < 4; ++c) by_outcome[c] += o[c];
  }
  // Every class of outcome happened, so the storm really raced cancellation against completion.
  CHECK(by_outcome[0] > 0);
  CHECK(by_outcome[1] > 0);
  CHECK(by_outcome[2] > 0);
  CHECK(by_outcome[3] == 0);
}

}  // namespace
