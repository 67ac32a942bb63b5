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
#include <couring/stop_token.hpp>
#include <couring/task.hpp>
#include <couring/work_item.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace couring::aio {
namespace {

struct engine {
  std::mutex m;
  std::condition_variable cv;
  bool ready = false;
  scheduler* sched = nullptr;  // null once ready: the runtime could not start
  const char* backend = "none";
};

// What one aio_cancel call waits on. Shared: the caller may stop waiting (the grace period) while
// the jobs it targeted still hold it, so whoever lets go last frees it.
struct cancel_ticket {
  std::mutex m;
  std::condition_variable cv;
  bool counted = false;     // the engine has found the targets
  std::size_t targeted = 0;
  std::size_t finished = 0;
  std::size_t cancelled = 0;  // of the finished, those that ended with ECANCELED
  bool gave_up = false;       // the engine had no memory to track them: nothing was stopped
};

// A request on its way through the engine: the work_item carries it to the engine's thread.
struct job : work_item {
  job(aiocb* c, request_kind k, list_state* l)
      : work_item(&start), cb(c), fd(c->aio_fildes), kind(k), list(l), notify(c->aio_sigevent) {}
  static void start(work_item& w) noexcept;
  aiocb* cb;
  int fd;  // copied too: the registry needs it after the aiocb went back to the caller
  request_kind kind;
  list_state* list;
  sigevent notify;  // copied at submission: once the status is final the aiocb is the caller's again
  // Every op of the job observes it. couring's stop tokens belong to one thread: request_stop()
  // runs only on the engine's thread (aio_cancel sends a message there).
  stop_source stop;
  // The registry of live jobs on one descriptor, in submission order; under flight_mutex.
  job* prev_on_fd = nullptr;
  job* next_on_fd = nullptr;
  // aio_fsync waits here for the transfers submitted before it on its descriptor.
  async_event earlier_done{async_event::reset_mode::automatic};
  std::vector<std::shared_ptr<cancel_ticket>> tickets;  // engine thread only
};

// The jobs of one descriptor, oldest first: aio_cancel's targets and aio_fsync's predecessors.
struct fd_jobs {
  job* head = nullptr;
  job* tail = nullptr;
};

// aio_cancel's message to the engine's thread, where the stop sources live.
struct cancel_message : work_item {
  cancel_message(int f, const aiocb* c, std::shared_ptr<cancel_ticket> t) noexcept
      : work_item(&run_it), fd(f), cb(c), ticket(std::move(t)) {}
  static void run_it(work_item& w) noexcept;
  int fd;
  const aiocb* cb;  // nullptr: every request on fd
  std::shared_ptr<cancel_ticket> ticket;
};

// How long aio_cancel waits for the requests it asked to stop. A request the kernel or a pool
// worker is already running cannot be taken back, and may hang on a dead disk or an NFS server
// that went away: past this, aio_cancel answers AIO_NOTCANCELED and the request completes (or
// not) on its own, rather than the caller hanging with it.
constexpr std::chrono::seconds cancel_grace{1};

// Guards starting the engine; fork's prepare handler holds it so the child never sees half a start.
std::mutex start_mutex;
engine* current = nullptr;
engine* abandoned_in_fork = nullptr;  // the parent's engine in a child: kept, never destroyed

std::mutex flight_mutex;
// Never destroyed: a request may still be finishing on the engine's thread at exit.
std::unordered_map<int, fd_jobs>* live = new std::unordered_map<int, fd_jobs>;
std::size_t flying = 0;

void link_locked(job* j) noexcept {
  fd_jobs& l = (*live)[j->fd];
  j->prev_on_fd = l.tail;
  j->next_on_fd = nullptr;
  if (l.tail) l.tail->next_on_fd = j; else l.head = j;
  l.tail = j;
}

void unlink_locked(job* j) noexcept {
  auto it = live->find(j->fd);
  fd_jobs& l = it->second;
  if (j->prev_on_fd) j->prev_on_fd->next_on_fd = j->next_on_fd; else l.head = j->next_on_fd;
  if (j->next_on_fd) j->next_on_fd->prev_on_fd = j->prev_on_fd; else l.tail = j->prev_on_fd;
  if (!l.head) live->erase(it);
}

bool is_sync(request_kind k) noexcept { return k == request_kind::fsync || k == request_kind::fdatasync; }

// Whether a read or write submitted before this fsync on its descriptor is still live.
bool earlier_transfer_live(job* j) noexcept {
  std::lock_guard lock(flight_mutex);
  for (job* e = j->prev_on_fd; e; e = e->prev_on_fd)
    if (!is_sync(e->kind)) return true;
  return false;
}

std::atomic<std::uint64_t> submitted_count{0};
std::atomic<std::uint64_t> completed_count{0};
std::atomic<std::uint64_t> inline_count{0};  // of the submitted, those served by served_inline()

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

// Every completion's steps, in one place, whoever completes the request: the engine's finish(),
// or the caller's thread for a read served at submission (served_inline(), then `j` is null: it
// was never registered). The status is final before anything announces it, so a waiter, a
// signal handler or a SIGEV_THREAD function that looks finds it final; the list is counted
// last, since its last member may free it.
void complete(aiocb* cb, ssize_t value, int error, const sigevent& notify, list_state* list, job* j) noexcept {
  if (j) {
    std::lock_guard lock(flight_mutex);
    --flying;
  }
  mark_done(cb, value, error);
  if (j) {
    // Leaves the registry only once its status is final: a request aio_cancel cannot find has
    // really finished, so its AIO_ALLDONE is never contradicted by aio_error.
    std::lock_guard lock(flight_mutex);
    for (job* later = j->next_on_fd; later; later = later->next_on_fd)
      if (is_sync(later->kind)) later->earlier_done.set();  // it rechecks what it waits for
    unlink_locked(j);
  }
  queue_completion(cb);
  completed_count.fetch_add(1, std::memory_order_relaxed);
  announce_completion();
  deliver(notify);
  if (list) list_member_done(list);
}

// On the engine's thread, like every cancel message: a message sees a job either before its
// finish() or not at all, never half-finished.
void finish(job* j, ssize_t value, int error) noexcept {
  complete(j->cb, value, error, j->notify, j->list, j);
  for (auto& t : j->tickets) {
    std::lock_guard lock(t->m);
    ++t->finished;
    if (error == ECANCELED) ++t->cancelled;
    t->cv.notify_all();
  }
  delete j;
}

// COURING_AIO_INLINE=0 turns served_inline() off: every request then takes the engine's path,
// for tests of that path and for comparing the two. Read once; a process keeps its choice.
bool inline_reads_enabled() noexcept {
  static const bool enabled = [] {
    const char* v = std::getenv("COURING_AIO_INLINE");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return enabled;
}

task<void> perform(job* j) {
  aiocb* cb = j->cb;
  const int fd = cb->aio_fildes;
  void* buf = const_cast<void*>(cb->aio_buf);
  switch (j->kind) {
    case request_kind::read: {
      auto r = co_await read_at(fd, buffer(buf, cb->aio_nbytes), cb->aio_offset).with_token(j->stop.token());
      // Pipes, sockets and terminals have no offset: like glibc, read them where they are.
      if (!r && r.error().value() == ESPIPE)
        r = co_await read(fd, buffer(buf, cb->aio_nbytes)).with_token(j->stop.token());
      finish(j, r ? static_cast<ssize_t>(*r) : -1, r ? 0 : r.error().value());
      break;
    }
    case request_kind::write: {
      auto r = co_await write_at(fd, buffer(buf, cb->aio_nbytes), cb->aio_offset).with_token(j->stop.token());
      if (!r && r.error().value() == ESPIPE)
        r = co_await write(fd, buffer(buf, cb->aio_nbytes)).with_token(j->stop.token());
      finish(j, r ? static_cast<ssize_t>(*r) : -1, r ? 0 : r.error().value());
      break;
    }
    case request_kind::fsync:
    case request_kind::fdatasync: {
      // POSIX: aio_fsync covers the I/O queued on the descriptor when it was called. Requests
      // here run concurrently, so it waits for the reads and writes submitted before it (while
      // it waits it is queued, and aio_cancel takes it back).
      while (earlier_transfer_live(j)) {
        auto w = co_await j->earlier_done.wait().with_token(j->stop.token());
        if (!w) {
          finish(j, -1, ECANCELED);
          co_return;
        }
      }
      auto r = co_await (j->kind == request_kind::fsync ? couring::fsync(fd) : couring::fdatasync(fd))
                   .with_token(j->stop.token());
      finish(j, r ? 0 : -1, r ? 0 : r.error().value());
      break;
    }
  }
}

void job::start(work_item& w) noexcept { spawn(perform(static_cast<job*>(&w))); }

// On the engine's thread: finds the targets (a job registered but not started yet is one: its
// first op then ends before reaching a backend), ties the ticket to each, then asks each to stop.
// Their finish() runs later, from the loop, never inside request_stop().
void cancel_message::run_it(work_item& w) noexcept {
  std::unique_ptr<cancel_message> m(static_cast<cancel_message*>(&w));
  std::vector<job*> targets;
  try {
    std::lock_guard lock(flight_mutex);
    if (auto it = live->find(m->fd); it != live->end())
      for (job* j = it->second.head; j; j = j->next_on_fd)
        if (!m->cb || j->cb == m->cb) targets.push_back(j);
    for (job* j : targets) j->tickets.reserve(j->tickets.size() + 1);  // so that attaching cannot fail
  } catch (const std::bad_alloc&) {
    // No memory to keep track: nothing is asked to stop, and the caller hears so at once.
    std::lock_guard lock(m->ticket->m);
    m->ticket->counted = true;
    m->ticket->gave_up = true;
    m->ticket->cv.notify_all();
    return;
  }
  for (job* j : targets) j->tickets.push_back(m->ticket);
  {
    std::lock_guard lock(m->ticket->m);
    m->ticket->counted = true;
    m->ticket->targeted = targets.size();
    m->ticket->cv.notify_all();
  }
  for (job* j : targets) j->stop.request_stop();
}

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
  live->clear();  // the parent's jobs are abandoned with its engine
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
  job* j = nullptr;
  try {
    j = new job(cb, kind, list);
    std::lock_guard lock(flight_mutex);
    if (flying >= max_in_flight) {
      delete j;
      return EAGAIN;
    }
    link_locked(j);  // may throw: the registry's node for a new descriptor
    ++flying;
  } catch (const std::bad_alloc&) {
    delete j;
    return EAGAIN;
  }
  submitted_count.fetch_add(1, std::memory_order_relaxed);
  e->sched->post_remote(*j);
  return 0;
}

bool served_inline(aiocb* cb, list_state* list) noexcept {
  if (!inline_reads_enabled()) return false;
  // Copied before the status is final, as a job copies it: from then on the aiocb is the caller's.
  const sigevent notify = cb->aio_sigevent;
  iovec iov{const_cast<void*>(cb->aio_buf), cb->aio_nbytes};
  const int saved = errno;  // a miss is no error of the caller's: aio_read succeeds all the same
  // RWF_NOWAIT: EAGAIN rather than waiting for the disk. Only a complete read is final: a short
  // one may mean that only part of the range was cached (or end of file, which the engine's
  // read reports as it happens); either way the engine reads the whole range again. Every error
  // (EAGAIN, EOPNOTSUPP where the file has no NOWAIT reads, ESPIPE for pipes and sockets, EFAULT,
  // ...) also goes to the engine, which reports it exactly as without this shortcut.
  const ssize_t n = preadv2(cb->aio_fildes, &iov, 1, cb->aio_offset, RWF_NOWAIT);
  errno = saved;
  if (n < 0 || static_cast<std::size_t>(n) != cb->aio_nbytes) return false;
  submitted_count.fetch_add(1, std::memory_order_relaxed);
  inline_count.fetch_add(1, std::memory_order_relaxed);
  complete(cb, n, 0, notify, list, nullptr);
  return true;
}

bool room_for(std::size_t n) noexcept {
  std::lock_guard lock(flight_mutex);
  return flying + n <= max_in_flight;
}

int cancel_requests(int fd, const aiocb* cb) noexcept {
  {
    std::lock_guard lock(flight_mutex);
    bool any = false;
    if (auto it = live->find(fd); it != live->end())
      for (job* j = it->second.head; j && !any; j = j->next_on_fd) any = !cb || j->cb == cb;
    // Not registered, so finished (its status is final before it leaves the registry). An
    // aiocb still in progress yet unknown here is the parent's, seen in a forked child: it never
    // completes in this process and nothing here can cancel it.
    if (!any) return cb && error_of(cb) == EINPROGRESS ? AIO_NOTCANCELED : AIO_ALLDONE;
  }
  // Something is live, so the engine runs (the child of a fork has an empty registry).
  engine* e = started_engine();
  if (!e) return AIO_NOTCANCELED;
  std::shared_ptr<cancel_ticket> ticket;
  cancel_message* m = nullptr;
  try {
    ticket = std::make_shared<cancel_ticket>();
    m = new cancel_message(fd, cb, ticket);
  } catch (const std::bad_alloc&) {
    return AIO_NOTCANCELED;  // nothing could be asked to stop
  }
  e->sched->post_remote(*m);
  std::unique_lock lock(ticket->m);
  const bool settled = ticket->cv.wait_for(
      lock, cancel_grace, [&] { return ticket->gave_up || (ticket->counted && ticket->finished == ticket->targeted); });
  if (!ticket->counted || ticket->gave_up) return AIO_NOTCANCELED;  // nothing was asked to stop in time
  if (ticket->targeted == 0) return AIO_ALLDONE;  // each finished before the message arrived
  return settled && ticket->cancelled == ticket->targeted ? AIO_CANCELED : AIO_NOTCANCELED;
}

const char* backend_name_of_engine() noexcept {
  engine* e = started_engine();
  return e ? e->backend : "none";
}

const char* backend_name_if_started() noexcept {
  std::lock_guard lock(start_mutex);
  if (!current) return "none";
  std::lock_guard ready(current->m);
  return current->ready && current->sched ? current->backend : "none";
}

counter_values counters() noexcept {
  return {submitted_count.load(std::memory_order_relaxed), completed_count.load(std::memory_order_relaxed),
          inline_count.load(std::memory_order_relaxed)};
}

}  // namespace couring::aio
