#include "runtime/aio/engine.hpp"

#include "runtime/aio/completion_queue.hpp"
#include "runtime/aio/control_block.hpp"
#include "runtime/aio/list_state.hpp"
#include "runtime/aio/notify.hpp"
#include "runtime/aio/wakeup.hpp"

#include <couring/async_event.hpp>
#include <couring/ops.hpp>
#include <couring/runtime.hpp>
#include <couring/spawn.hpp>
#include <couring/task.hpp>
#include <couring/work_item.hpp>

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <unordered_map>

namespace couring::aio {
namespace {

struct engine {
  std::mutex m;
  std::condition_variable cv;
  bool ready = false;
  scheduler* sched = nullptr;  // null once ready: the runtime could not start
  const char* backend = "none";
};

// A request on its way through the engine: the work_item carries it to the engine's thread.
struct job : work_item {
  job(aiocb* c, request_kind k, list_state* l) noexcept : work_item(&start), cb(c), kind(k), list(l), notify(c->aio_sigevent) {}
  static void start(work_item& w) noexcept;
  aiocb* cb;
  request_kind kind;
  list_state* list;
  sigevent notify;  // copied at submission: once the status is final the aiocb is the caller's again
};

// Guards starting the engine; fork's prepare handler holds it so the child never sees half a start.
std::mutex start_mutex;
engine* current = nullptr;
engine* abandoned_in_fork = nullptr;  // the parent's engine in a child: kept, never destroyed

std::mutex flight_mutex;
std::unordered_map<int, std::size_t>* per_fd = new std::unordered_map<int, std::size_t>;
std::size_t flying = 0;

std::atomic<std::uint64_t> submitted_count{0};
std::atomic<std::uint64_t> completed_count{0};

task<void> serve_forever(engine* e) {
  // Never set: the engine lives as long as the process (or until fork gives the child a new one).
  auto* forever = new async_event;
  (void)e;
  (void)co_await forever->wait();
}

void* engine_main(void* arg) {
  auto* e = static_cast<engine*>(arg);
  try {
    runtime_config config;
    config.shards = 1;  // one loop keeps every request's path short; the pool does blocking work
    runtime* rt = new runtime(apply_environment(config));  // never destroyed: see engine.hpp
    {
      std::lock_guard lock(e->m);
      e->sched = &rt->sched();
      e->backend = backend_name(rt->backend());
      e->ready = true;
    }
    e->cv.notify_all();
    rt->run(serve_forever(e));
  } catch (...) {
    std::lock_guard lock(e->m);
    e->ready = true;
    e->cv.notify_all();
  }
  return nullptr;
}

engine* started_engine() noexcept {
  std::unique_lock lock(start_mutex);
  if (!current) {
    auto* e = new engine;
    // The engine's thread blocks every signal: the program's handlers run on its own threads.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    const int rc = pthread_create(&t, nullptr, engine_main, e);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
      delete e;
      return nullptr;
    }
    pthread_detach(t);
    pthread_setname_np(t, "couring-aio");
    current = e;
  }
  engine* e = current;
  lock.unlock();
  std::unique_lock wait(e->m);
  e->cv.wait(wait, [e] { return e->ready; });
  return e->sched ? e : nullptr;
}

void finish(job* j, ssize_t value, int error) noexcept {
  aiocb* cb = j->cb;
  const int fd = cb->aio_fildes;
  {
    std::lock_guard lock(flight_mutex);
    auto it = per_fd->find(fd);
    if (it != per_fd->end() && --it->second == 0) per_fd->erase(it);
    --flying;
  }
  mark_done(cb, value, error);
  queue_completion(cb);
  completed_count.fetch_add(1, std::memory_order_relaxed);
  announce_completion();
  deliver(j->notify);
  if (j->list) list_member_done(j->list);
  delete j;
}

task<void> perform(job* j) {
  aiocb* cb = j->cb;
  const int fd = cb->aio_fildes;
  void* buf = const_cast<void*>(cb->aio_buf);
  switch (j->kind) {
    case request_kind::read: {
      auto r = co_await read_at(fd, buffer(buf, cb->aio_nbytes), cb->aio_offset);
      // Pipes, sockets and terminals have no offset: like glibc, read them where they are.
      if (!r && r.error().value() == ESPIPE) r = co_await read(fd, buffer(buf, cb->aio_nbytes));
      finish(j, r ? static_cast<ssize_t>(*r) : -1, r ? 0 : r.error().value());
      break;
    }
    case request_kind::write: {
      auto r = co_await write_at(fd, buffer(buf, cb->aio_nbytes), cb->aio_offset);
      if (!r && r.error().value() == ESPIPE) r = co_await write(fd, buffer(buf, cb->aio_nbytes));
      finish(j, r ? static_cast<ssize_t>(*r) : -1, r ? 0 : r.error().value());
      break;
    }
    case request_kind::fsync:
    case request_kind::fdatasync: {
      auto r = co_await (j->kind == request_kind::fsync ? couring::fsync(fd) : couring::fdatasync(fd));
      finish(j, r ? 0 : -1, r ? 0 : r.error().value());
      break;
    }
  }
}

void job::start(work_item& w) noexcept { spawn(perform(static_cast<job*>(&w))); }

void before_fork() noexcept {
  start_mutex.lock();
  flight_mutex.lock();
  hold_completion_queue_for_fork();
}
void after_fork_parent() noexcept {
  release_completion_queue_after_fork();
  flight_mutex.unlock();
  start_mutex.unlock();
}
// The child has none of the parent's threads: its engine starts afresh, with nothing in flight
// (the parent's requests stay the parent's). The old engine is abandoned, not destroyed: its
// destructor would touch threads and rings that the child does not have. The bookkeeping, held
// across fork and so consistent, is emptied.
void after_fork_child() noexcept {
  if (current) abandoned_in_fork = current;
  current = nullptr;
  per_fd->clear();
  flying = 0;
  new (&flight_mutex) std::mutex;
  new (&start_mutex) std::mutex;
  forget_notification_thread();
  reset_completion_queue_after_fork();
}

[[maybe_unused]] const int fork_handlers = pthread_atfork(before_fork, after_fork_parent, after_fork_child);

}  // namespace

int submit(aiocb* cb, request_kind kind, list_state* list) noexcept {
  engine* e = started_engine();
  if (!e) return EAGAIN;
  {
    std::lock_guard lock(flight_mutex);
    if (flying >= max_in_flight) return EAGAIN;
    ++flying;
    ++(*per_fd)[cb->aio_fildes];
  }
  job* j = new (std::nothrow) job(cb, kind, list);
  if (!j) {
    std::lock_guard lock(flight_mutex);
    auto it = per_fd->find(cb->aio_fildes);
    if (--it->second == 0) per_fd->erase(it);
    --flying;
    return EAGAIN;
  }
  submitted_count.fetch_add(1, std::memory_order_relaxed);
  e->sched->post_remote(*j);
  return 0;
}

bool room_for(std::size_t n) noexcept {
  std::lock_guard lock(flight_mutex);
  return flying + n <= max_in_flight;
}

std::size_t in_flight_on(int fd) noexcept {
  std::lock_guard lock(flight_mutex);
  auto it = per_fd->find(fd);
  return it == per_fd->end() ? 0 : it->second;
}

const char* backend_name_of_engine() noexcept {
  engine* e = started_engine();
  return e ? e->backend : "none";
}

counter_values counters() noexcept {
  return {submitted_count.load(std::memory_order_relaxed), completed_count.load(std::memory_order_relaxed)};
}

}  // namespace couring::aio
