// async_mutex, async_semaphore and async_event: what a task waiting on them can rely on, within a
// shard and across shards, including cancellation and frames destroyed while waiting.
#include "sched_support.hpp"

#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

using namespace couring;
using couring::testing::manual_frame;
using couring::testing::settle;
using couring::testing::start_here;
using couring::testing::with_shards;

namespace {

// --- async_mutex -------------------------------------------------------------------------------

struct section_log {
  int inside = 0;
  int most_inside = 0;
  std::vector<int> holders;
};

task<void> contend(async_mutex& m, section_log& log, int id, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    auto g = co_await m.scoped_lock();
    if (!g) co_return;
    log.holders.push_back(id);
    log.most_inside = std::max(log.most_inside, ++log.inside);
    co_await yield();  // everyone else runs now, and must queue
    --log.inside;
  }
}

task<result<void>> lock_then_unlock(async_mutex& m, std::vector<int>& order, int id) {
  auto r = co_await m.lock();
  if (r) {
    order.push_back(id);
    m.unlock();
  }
  co_return r;
}

task<void> record_lock(async_mutex& m, result<void>& out, bool& resumed, bool unlock_after) {
  out = co_await m.lock();
  resumed = true;
  if (out && unlock_after) m.unlock();
}

// Many increments of a plain counter from several shards; the mutex is what makes them safe
// (TSan checks the hand-off orders them).
task<void> count_under_lock(async_mutex& m, long& counter, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    auto g = co_await m.scoped_lock();
    if (!g) throw std::runtime_error("lock failed");
    long v = counter;
    if (i % 7 == 0) co_await yield();  // sometimes hold it across a suspension
    counter = v + 1;
  }
}

task<int> count_on_shard(async_mutex& m, long& counter, int rounds) {
  co_await count_under_lock(m, counter, rounds);
  co_return static_cast<int>(this_shard());
}

}  // namespace

TEST_CASE("async_mutex admits one task at a time, even across suspensions", "[sched][sync][mutex]") {
  section_log log;
  run([&]() -> task<void> {
    async_mutex m;
    std::vector<task<void>> tasks;
    for (int id = 0; id < 5; ++id) tasks.push_back(contend(m, log, id, 20));
    co_await when_all(std::move(tasks));
    CHECK_FALSE(m.is_locked());
  }());
  CHECK(log.most_inside == 1);
  CHECK(log.holders.size() == 100);
}

TEST_CASE("async_mutex hands the lock over in FIFO order, so no contender starves", "[sched][sync][mutex]") {
  section_log log;
  run([&]() -> task<void> {
    async_mutex m;
    std::vector<task<void>> tasks;
    for (int id = 0; id < 4; ++id) tasks.push_back(contend(m, log, id, 25));
    co_await when_all(std::move(tasks));
  }());
  // Each holder re-queues behind the others when it comes back: strict rotation.
  REQUIRE(log.holders.size() == 100);
  for (std::size_t i = 0; i < log.holders.size(); ++i) CHECK(log.holders[i] == static_cast<int>(i % 4));
}

TEST_CASE("a newcomer does not overtake the tasks already waiting for an async_mutex", "[sched][sync][mutex]") {
  std::vector<int> order;
  run([&]() -> task<void> {
    async_mutex m;
    REQUIRE(m.try_lock());
    std::vector<task<result<void>>> waiters;
    for (int id = 0; id < 3; ++id) waiters.push_back(lock_then_unlock(m, order, id));
    spawn(when_all(std::move(waiters)));
    co_await settle();
    CHECK_FALSE(m.try_lock());  // held: a try never jumps the queue
    m.unlock();                 // goes to waiter 0, not to the free-for-all
    CHECK_FALSE(m.try_lock());
    co_await settle(6);
    CHECK(m.try_lock());
    m.unlock();
  }());
  CHECK(order == std::vector<int>{0, 1, 2});
}

TEST_CASE("a scoped_lock guard unlocks once, when it goes, and can be moved", "[sched][sync][mutex]") {
  run([&]() -> task<void> {
    async_mutex m;
    {
      auto g = co_await m.scoped_lock();
      REQUIRE(g);
      CHECK(g->owns_lock());
      CHECK(m.is_locked());
      async_mutex_guard moved = std::move(*g);
      CHECK_FALSE(g->owns_lock());
      CHECK(moved.mutex() == &m);
      CHECK(m.is_locked());
    }
    CHECK_FALSE(m.is_locked());
    auto g2 = co_await m.scoped_lock();
    REQUIRE(g2);
    g2->unlock();
    CHECK_FALSE(m.is_locked());
  }());
}

TEST_CASE("async_mutex under contention from two shards keeps a plain counter exact", "[sched][sync][mutex][shards]") {
  long counter = 0;
  int remote_shard = -1;
  run([&]() -> task<void> {
    async_mutex m;
    auto remote = on_shard(1, [&] { return count_on_shard(m, counter, 3000); });
    auto [local, there] = co_await when_all(count_under_lock(m, counter, 3000), std::move(remote));
    (void)local;
    remote_shard = there;
    CHECK_FALSE(m.is_locked());
  }(), with_shards(2));
  CHECK(remote_shard == 1);
  CHECK(counter == 6000);
}

TEST_CASE("a cancelled lock waiter leaves the queue with operation_canceled; the lock goes to the next",
          "[sched][sync][mutex][cancel]") {
  run([&]() -> task<void> {
    async_mutex m;
    REQUIRE(m.try_lock());
    stop_source cancel_a;
    result<void> a, b;
    bool a_resumed = false, b_resumed = false;
    spawn(record_lock(m, a, a_resumed, false).with_token(cancel_a.token()));
    spawn(record_lock(m, b, b_resumed, false));
    co_await settle();
    CHECK_FALSE(a_resumed);
    cancel_a.request_stop();
    co_await settle();
    REQUIRE(a_resumed);
    CHECK(a.error() == std::errc::operation_canceled);
    CHECK_FALSE(b_resumed);
    m.unlock();
    co_await settle();
    REQUIRE(b_resumed);
    CHECK(b);
    CHECK(m.is_locked());  // b owns it now
    m.unlock();
  }());
}

TEST_CASE("a lock awaited by a task already asked to stop fails at once, even when the mutex is free",
          "[sched][sync][mutex][cancel]") {
  run([&]() -> task<void> {
    async_mutex m;
    stop_source s;
    s.request_stop();
    result<void> r;
    bool resumed = false;
    co_await record_lock(m, r, resumed, true).with_token(s.token());
    CHECK(resumed);
    CHECK(r.error() == std::errc::operation_canceled);
    CHECK_FALSE(m.is_locked());
  }());
}

TEST_CASE("a hand-off and a cancel of the same lock waiter resolve to exactly one outcome",
          "[sched][sync][mutex][cancel]") {
  run([&]() -> task<void> {
    async_mutex m;
    SECTION("the hand-off first: the waiter owns the lock despite the later cancel") {
      REQUIRE(m.try_lock());
      stop_source s;
      result<void> r;
      bool resumed = false;
      spawn(record_lock(m, r, resumed, false).with_token(s.token()));
      co_await settle();
      m.unlock();         // granted and posted...
      s.request_stop();   // ...before the waiter ran: too late to cancel
      co_await settle();
      REQUIRE(resumed);
      CHECK(r);
      CHECK(m.is_locked());
      m.unlock();
    }
    SECTION("the cancel first: the waiter gets operation_canceled and the lock is free") {
      REQUIRE(m.try_lock());
      stop_source s;
      result<void> r;
      bool resumed = false;
      spawn(record_lock(m, r, resumed, false).with_token(s.token()));
      co_await settle();
      s.request_stop();
      m.unlock();  // nobody waits any more
      co_await settle();
      REQUIRE(resumed);
      CHECK(r.error() == std::errc::operation_canceled);
      CHECK_FALSE(m.is_locked());
    }
  }());
}

namespace {

// Shard 1 repeatedly waits for the lock and cancels its own wait while shard 0 unlocks: whatever
// wins, the lock must end up with exactly one owner at a time and never be lost.
struct race_tally {
  int granted = 0;
  int canceled = 0;
};

task<void> wait_and_cancel_soon(async_mutex& m, race_tally& t) {
  stop_source s;
  result<void> r;
  bool resumed = false;
  spawn(record_lock(m, r, resumed, true).with_token(s.token()));
  co_await yield();
  s.request_stop();
  while (!resumed) co_await yield();
  if (r) ++t.granted; else ++t.canceled;
}

task<race_tally> race_on_shard_1(async_mutex& m, int rounds) {
  race_tally t;
  for (int i = 0; i < rounds; ++i) co_await wait_and_cancel_soon(m, t);
  co_return t;
}

task<int> lock_and_release_loop(async_mutex& m, int rounds) {
  int taken = 0;
  for (int i = 0; i < rounds; ++i) {
    auto r = co_await m.lock();
    if (!r) continue;
    ++taken;
    co_await yield();
    m.unlock();
  }
  co_return taken;
}

}  // namespace

TEST_CASE("lock hand-offs racing cancellations across shards never lose or duplicate the lock",
          "[sched][sync][mutex][cancel][shards]") {
  race_tally tally;
  int taken = 0;
  run([&]() -> task<void> {
    async_mutex m;
    auto remote = on_shard(1, [&] { return race_on_shard_1(m, 300); });
    auto [t, n] = co_await when_all(std::move(remote), lock_and_release_loop(m, 300));
    tally = t;
    taken = n;
    CHECK_FALSE(m.is_locked());
  }(), with_shards(2));
  CHECK(taken == 300);
  CHECK(tally.granted + tally.canceled == 300);
}

TEST_CASE("a lock waiter destroyed while queued unlinks itself", "[sched][sync][mutex][shutdown]") {
  run([&]() -> task<void> {
    async_mutex m;
    REQUIRE(m.try_lock());
    result<void> r;
    bool resumed = false;
    manual_frame f(record_lock(m, r, resumed, false));
    f.start();
    f.destroy();
    m.unlock();  // nobody is queued any more: the mutex is simply free
    CHECK_FALSE(m.is_locked());
    CHECK_FALSE(resumed);
    co_await settle();
  }());
}

TEST_CASE("a lock handed to a frame destroyed before it resumed passes to the next waiter",
          "[sched][sync][mutex][shutdown]") {
  run([&]() -> task<void> {
    async_mutex m;
    REQUIRE(m.try_lock());
    result<void> r1, r2;
    bool resumed1 = false, resumed2 = false;
    manual_frame first(record_lock(m, r1, resumed1, false));
    first.start();
    spawn(record_lock(m, r2, resumed2, false));
    co_await settle();
    m.unlock();       // granted to `first`, whose resumption is queued...
    first.destroy();  // ...but it dies before running: the lock moves on
    co_await settle();
    CHECK_FALSE(resumed1);
    REQUIRE(resumed2);
    CHECK(r2);
    CHECK(m.is_locked());
    m.unlock();
  }());
}

// --- async_semaphore ---------------------------------------------------------------------------

namespace {

struct admission_log {
  int inside = 0;
  int most_inside = 0;
  std::vector<int> admitted;
};

task<void> use_slot(async_semaphore& s, admission_log& log, int id) {
  auto r = co_await s.acquire();
  if (!r) co_return;
  log.admitted.push_back(id);
  log.most_inside = std::max(log.most_inside, ++log.inside);
  co_await settle(2);
  --log.inside;
  s.release();
}

task<void> record_acquire(async_semaphore& s, result<void>& out, bool& resumed) {
  out = co_await s.acquire();
  resumed = true;
}

// Passes permits back and forth: shard 1 waits for "ping" and releases "pong".
task<int> pong(async_semaphore& ping, async_semaphore& pong_sem, int rounds) {
  int n = 0;
  for (int i = 0; i < rounds; ++i) {
    auto r = co_await ping.acquire();
    if (!r) break;
    ++n;
    pong_sem.release();
  }
  co_return n;
}

}  // namespace

TEST_CASE("async_semaphore admits at most its count at once, in arrival order", "[sched][sync][semaphore]") {
  admission_log log;
  run([&]() -> task<void> {
    async_semaphore s(2);
    std::vector<task<void>> tasks;
    for (int id = 0; id < 7; ++id) tasks.push_back(use_slot(s, log, id));
    co_await when_all(std::move(tasks));
    CHECK(s.available() == 2);
  }());
  CHECK(log.most_inside == 2);
  CHECK(log.admitted == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("release(n) wakes n waiters and keeps the surplus for later acquires", "[sched][sync][semaphore]") {
  run([&]() -> task<void> {
    async_semaphore s(0);
    CHECK_FALSE(s.try_acquire());
    result<void> r[3];
    bool resumed[3] = {false, false, false};
    for (int i = 0; i < 3; ++i) spawn(record_acquire(s, r[i], resumed[i]));
    co_await settle();
    s.release(2);
    co_await settle();
    CHECK(resumed[0]);
    CHECK(resumed[1]);
    CHECK_FALSE(resumed[2]);
    s.release(3);  // one for the last waiter, two kept
    co_await settle();
    CHECK(resumed[2]);
    CHECK(s.available() == 2);
    CHECK(s.try_acquire());
    CHECK(s.try_acquire());
    CHECK_FALSE(s.try_acquire());
    for (auto& x : r) CHECK(x);
  }());
}

TEST_CASE("a cancelled acquire takes no permit, and a permit that raced the cancel goes to the next waiter",
          "[sched][sync][semaphore][cancel]") {
  run([&]() -> task<void> {
    async_semaphore s(0);
    stop_source cancel_a;
    result<void> a, b;
    bool a_resumed = false, b_resumed = false;
    spawn(record_acquire(s, a, a_resumed).with_token(cancel_a.token()));
    spawn(record_acquire(s, b, b_resumed));
    co_await settle();
    cancel_a.request_stop();  // a leaves the queue before the permit arrives
    s.release();
    co_await settle();
    REQUIRE(a_resumed);
    CHECK(a.error() == std::errc::operation_canceled);
    REQUIRE(b_resumed);
    CHECK(b);
    CHECK(s.available() == 0);
  }());
}

TEST_CASE("a permit handed to a destroyed frame returns to the semaphore", "[sched][sync][semaphore][shutdown]") {
  run([&]() -> task<void> {
    async_semaphore s(0);
    result<void> r;
    bool resumed = false;
    manual_frame f(record_acquire(s, r, resumed));
    f.start();
    s.release();  // granted to f, queued to resume...
    f.destroy();  // ...which never happens
    co_await settle();
    CHECK_FALSE(resumed);
    CHECK(s.available() == 1);
  }());
}

TEST_CASE("semaphore permits ping-pong between shards without loss", "[sched][sync][semaphore][shards]") {
  int pongs = 0, pings = 0;
  run([&]() -> task<void> {
    async_semaphore ping(0), pong_sem(0);
    auto remote = on_shard(1, [&] { return pong(ping, pong_sem, 2000); });
    auto local = [](async_semaphore& ping, async_semaphore& pong_sem, int& pings) -> task<void> {
      for (int i = 0; i < 2000; ++i) {
        ping.release();
        auto r = co_await pong_sem.acquire();
        if (!r) co_return;
        ++pings;
      }
    };
    auto [n, done] = co_await when_all(std::move(remote), local(ping, pong_sem, pings));
    (void)done;
    pongs = n;
    CHECK(ping.available() == 0);
    CHECK(pong_sem.available() == 0);
  }(), with_shards(2));
  CHECK(pongs == 2000);
  CHECK(pings == 2000);
}

// --- async_event -------------------------------------------------------------------------------

namespace {

task<void> record_wait(async_event& e, result<void>& out, bool& resumed) {
  out = co_await e.wait();
  resumed = true;
}

// Waits on shard `shard` and reports which shard it resumed on.
task<unsigned> wait_and_report_shard(async_event& e) {
  auto r = co_await e.wait();
  if (!r) co_return 99;
  co_return this_shard();
}

task<unsigned> wait_on_shard(unsigned shard, async_event& e) {
  unsigned where = co_await submit_to(shard, wait_and_report_shard(e));
  co_return where;
}

}  // namespace

TEST_CASE("a manual-reset event releases every waiter, each on its own shard, and stays set until reset",
          "[sched][sync][event][shards]") {
  std::vector<unsigned> resumed_on;
  run([&]() -> task<void> {
    async_event e;
    CHECK_FALSE(e.is_set());
    std::vector<task<unsigned>> waiters;
    for (unsigned shard = 0; shard < 3; ++shard)
      waiters.push_back(wait_on_shard(shard, e));
    auto setter = [](async_event& e) -> task<unsigned> {
      co_await settle();
      co_await on_shard(2, [&e] { e.set(); });  // set from yet another thread
      co_return 0;
    };
    waiters.push_back(setter(e));
    resumed_on = co_await when_all(std::move(waiters));
    CHECK(e.is_set());
    auto again = co_await e.wait();  // set: passes at once
    CHECK(again);
    e.reset();
    CHECK_FALSE(e.is_set());
  }(), with_shards(3));
  CHECK(resumed_on == std::vector<unsigned>{0, 1, 2, 0});
}

TEST_CASE("an automatic-reset event lets one waiter through per set, and keeps one set for the next wait",
          "[sched][sync][event]") {
  run([&]() -> task<void> {
    async_event e(async_event::reset_mode::automatic);
    result<void> r[2];
    bool resumed[2] = {false, false};
    spawn(record_wait(e, r[0], resumed[0]));
    spawn(record_wait(e, r[1], resumed[1]));
    co_await settle();
    e.set();
    co_await settle();
    CHECK(resumed[0]);
    CHECK_FALSE(resumed[1]);
    CHECK_FALSE(e.is_set());  // consumed by the waiter it released
    e.set();
    co_await settle();
    CHECK(resumed[1]);
    e.set();
    e.set();  // a flag, not a counter: two sets with nobody waiting keep one
    CHECK(e.is_set());
    auto first = co_await e.wait();
    CHECK(first);
    CHECK_FALSE(e.is_set());
    CHECK(r[0]);
    CHECK(r[1]);
  }());
}

TEST_CASE("a cancelled event wait yields operation_canceled; an automatic release passes to the next waiter",
          "[sched][sync][event][cancel]") {
  run([&]() -> task<void> {
    async_event e(async_event::reset_mode::automatic);
    stop_source cancel_a;
    result<void> a, b;
    bool a_resumed = false, b_resumed = false;
    spawn(record_wait(e, a, a_resumed).with_token(cancel_a.token()));
    spawn(record_wait(e, b, b_resumed));
    co_await settle();
    cancel_a.request_stop();
    e.set();
    co_await settle();
    REQUIRE(a_resumed);
    CHECK(a.error() == std::errc::operation_canceled);
    REQUIRE(b_resumed);
    CHECK(b);
    CHECK_FALSE(e.is_set());
  }());
}

TEST_CASE("an automatic release handed to a destroyed frame is kept for the next waiter",
          "[sched][sync][event][shutdown]") {
  run([&]() -> task<void> {
    async_event e(async_event::reset_mode::automatic);
    result<void> r;
    bool resumed = false;
    manual_frame f(record_wait(e, r, resumed));
    f.start();
    e.set();
    f.destroy();
    co_await settle();
    CHECK_FALSE(resumed);
    CHECK(e.is_set());
  }());
}

TEST_CASE("a primitive's waiter on another shard resumes on its own shard, never on the waker's thread",
          "[sched][sync][shards]") {
  std::thread::id main_thread = std::this_thread::get_id();
  std::thread::id waiter_thread, resumed_thread;
  run([&]() -> task<void> {
    async_mutex m;
    REQUIRE(m.try_lock());
    auto waiter = [](async_mutex& m, std::thread::id& before, std::thread::id& after) -> task<void> {
      before = std::this_thread::get_id();
      auto g = co_await m.scoped_lock();
      after = std::this_thread::get_id();
    };
    co_await on_shard(1, [&] { return start_here(waiter(m, waiter_thread, resumed_thread)); });
    m.unlock();  // on shard 0's thread
    co_await on_shard(1, [] { return settle(); });
    auto g = co_await m.scoped_lock();  // released by the waiter's guard on shard 1
    CHECK(g);
  }(), with_shards(2));
  CHECK(waiter_thread != main_thread);
  CHECK(resumed_thread == waiter_thread);
}

namespace {

task<void> lock_with_own_token(async_mutex& m, stop_token t, result<void>& out, bool& resumed) {
  out = co_await m.lock().with_token(std::move(t));
  resumed = true;
}

}  // namespace

TEST_CASE("a wait given its own token with with_token() observes that token", "[sched][sync][cancel]") {
  run([&]() -> task<void> {
    async_mutex m;
    REQUIRE(m.try_lock());
    stop_source own;
    result<void> r;
    bool resumed = false;
    spawn(lock_with_own_token(m, own.token(), r, resumed));
    co_await settle();
    CHECK_FALSE(resumed);
    own.request_stop();
    co_await settle();
    REQUIRE(resumed);
    CHECK(r.error() == std::errc::operation_canceled);
    auto ev = async_event(async_event::reset_mode::manual, true);
    stop_source stopped;
    stopped.request_stop();
    auto w = co_await ev.wait().with_token(stopped.token());  // already stopped: cancelled, even though set
    CHECK(w.error() == std::errc::operation_canceled);
    m.unlock();
  }());
}
