// wait_queue: how a coroutine waits on a synchronisation primitive (async_mutex, async_semaphore,
// async_event, channel) without blocking its thread, on any shard.
//
// A waiter is a small heap node, not state in the coroutine frame: once a waker has posted the
// node to the waiter's shard it cannot be taken back out of that shard's queues, and the frame may
// be destroyed meanwhile (runtime shutdown destroys suspended tasks). The node therefore carries
// two references, the awaiter's and the list's; the list's travels with the node when it is posted
// and is dropped after it ran. Both references are dropped on the waiter's own thread, so the
// count needs no atomics, and the node comes from that thread's frame cache.
//
// Who decides a waiter's outcome: whoever takes the node off the list first, under the
// primitive's lock. A waker marks it granted (or closed) and posts it; a cancellation (the
// waiter's stop token, on its own thread) marks it canceled and posts it; a destroyed frame
// unlinks it. So a cancel racing a wake resolves to exactly one outcome, and a wake that finds the
// waiter gone simply serves the next one.
#pragma once

#include <couring/assert.hpp>
#include <couring/detail/frame_allocator.hpp>
#include <couring/scheduler.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>
#include <couring/work_item.hpp>

#include <coroutine>
#include <cstdint>
#include <mutex>
#include <new>
#include <optional>
#include <utility>

namespace couring::detail {

enum class wait_status : std::uint8_t {
  waiting,   // on the list
  granted,   // a waker gave it what it waited for (the lock, a permit, a value, room)
  canceled,  // its stop token fired while it was on the list
  closed,    // the channel closed under it
};

struct wait_node : work_item {
  using destroy_fn = void (*)(wait_node&) noexcept;

  wait_node(scheduler& h, std::coroutine_handle<> w, destroy_fn d) noexcept
      : work_item(&wait_node::run), home(&h), waiter(w), destroy(d) {}
  wait_node(const wait_node&) = delete;
  wait_node& operator=(const wait_node&) = delete;

  // The list links, guarded by the primitive's lock while the node is waiting; a wake_batch
  // reuses list_next once the node is off the list.
  wait_node* list_prev = nullptr;
  wait_node* list_next = nullptr;
  scheduler* const home;  // the waiter's shard: it is resumed there and nowhere else
  std::coroutine_handle<> waiter;
  destroy_fn destroy;
  // Written under the primitive's lock by whoever takes the node off the list; the waiter reads it
  // after the node's work item ran on its thread (post_remote's release, drain's acquire).
  wait_status status = wait_status::waiting;
  unsigned refs = 2;        // home thread only: the awaiter's and the list's
  bool frame_gone = false;  // home thread only: the awaiting frame was destroyed first

  void release() noexcept {
    if (--refs == 0) destroy(*this);
  }

 private:
  static void run(work_item& w) noexcept {
    auto& n = static_cast<wait_node&>(w);
    if (!n.frame_gone) resume_flat(n.waiter);
    n.release();  // the list's reference, which travelled with the item
  }
};

// Nodes are made and freed on the waiter's thread, so the per-thread frame cache serves them.
template <class Node, class... Args>
Node* make_wait_node(scheduler& home, std::coroutine_handle<> waiter, Args&&... args) {
  void* p = allocate_frame(sizeof(Node));
  return ::new (p) Node(home, waiter,
                        [](wait_node& n) noexcept {
                          static_cast<Node&>(n).~Node();
                          deallocate_frame(&n, sizeof(Node));
                        },
                        std::forward<Args>(args)...);
}

// Resumes the node's waiter on its own shard, never on the caller's thread.
inline void post_home(wait_node& n) noexcept {
  scheduler* home = n.home;  // read first: once posted, the node may be gone
  if (home->on_owner_thread()) home->post(n); else home->post_remote(n);
}

// FIFO of waiting nodes; the primitive's lock guards it.
class wait_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  wait_node* front() const noexcept { return head_; }

  void push_back(wait_node& n) noexcept {
    n.list_next = nullptr;
    n.list_prev = tail_;
    if (tail_) tail_->list_next = &n; else head_ = &n;
    tail_ = &n;
  }
  wait_node* pop_front() noexcept {
    wait_node* n = head_;
    if (n) remove(*n);
    return n;
  }
  void remove(wait_node& n) noexcept {
    if (n.list_prev) n.list_prev->list_next = n.list_next; else head_ = n.list_next;
    if (n.list_next) n.list_next->list_prev = n.list_prev; else tail_ = n.list_prev;
    n.list_prev = n.list_next = nullptr;
  }

 private:
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
};

// Nodes taken off a list under the lock, posted once the lock is released: a post may wake a
// sleeping shard (a syscall), which must not be done while other threads wait for the lock.
// Declare it before the lock guard so that it is destroyed after the guard.
class wake_batch {
 public:
  wake_batch() noexcept = default;
  wake_batch(const wake_batch&) = delete;
  wake_batch& operator=(const wake_batch&) = delete;
  ~wake_batch() {
    while (wait_node* n = head_) {
      head_ = n->list_next;  // read before posting: the waiter may free the node at once
      post_home(*n);
    }
  }

  // Under the lock: `n` is off the list, with its outcome decided.
  void add(wait_node& n, wait_status outcome) noexcept {
    n.status = outcome;
    n.list_next = nullptr;
    if (tail_) tail_->list_next = &n; else head_ = &n;
    tail_ = &n;
  }

 private:
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
};

// What every primitive's awaitable shares: the cancellable, shutdown-safe wait. Derived supplies
//   static std::mutex& lock_of(Primitive&);  static wait_list& queue_of(Primitive&);
//   wait_status try_now(wake_batch&);       under the lock: the outcome without waiting, or waiting
//   Node* make_node(scheduler&, std::coroutine_handle<>)   (optional: a node that carries more)
//   static void give_back(Primitive&, Node&) noexcept;  a grant whose frame died before it resumed
// and its own await_resume(), which starts with finish().
template <class Derived, class Primitive, class Node>
class wait_awaitable {
 public:
  explicit wait_awaitable(Primitive& owner) noexcept : owner_(&owner) {}
  // Movable until awaited (GCC 12 moves an awaiter named by an xvalue into the frame).
  wait_awaitable(wait_awaitable&& o) noexcept : owner_(o.owner_), token_(std::move(o.token_)) {
    COURING_ASSERT(o.node_ == nullptr, "a waiting awaitable was moved");
  }
  wait_awaitable& operator=(wait_awaitable&&) = delete;
  ~wait_awaitable() { abandon(); }

  // Observe this token instead of the awaiting task's.
  Derived&& with_token(stop_token t) && noexcept {
    token_ = std::move(t);
    return static_cast<Derived&&>(*this);
  }

  bool await_ready() const noexcept { return false; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    const stop_token* t = token_.stop_possible() ? &token_ : token_of(h);
    // Like an op: a task already asked to stop gets operation_canceled and takes nothing.
    if (t && t->stop_requested()) {
      outcome_ = wait_status::canceled;
      return false;
    }
    scheduler* s = scheduler::current();
    COURING_ASSERT(s != nullptr, "a synchronisation primitive was awaited outside a couring runtime thread");
    // Shutdown: like an op awaited now, it never completes; the frame will be destroyed. This is
    // what keeps tasks that only talk through channels from running forever once run() ends.
    if (s->stopping()) return true;
    {
      wake_batch woken;
      std::lock_guard lock(Derived::lock_of(*owner_));
      outcome_ = self().try_now(woken);
      if (outcome_ != wait_status::waiting) return false;
      node_ = self().make_node(*s, h);
      Derived::queue_of(*owner_).push_back(*node_);
    }
    // Registered after the node is queued: a wake in between only posts it to this thread, which
    // runs it after we return; and the token cannot fire meanwhile (it is ours, single-thread).
    if (t && t->stop_possible()) cancel_hook_.emplace(*t, canceler{this});
    return true;
  }

 protected:
  // The outcome; await_resume() of Derived starts here.
  wait_status finish() noexcept {
    cancel_hook_.reset();
    resumed_ = true;
    if (node_) outcome_ = node_->status;
    return outcome_;
  }

  Primitive& owner() const noexcept { return *owner_; }
  Node* node() const noexcept { return node_; }

  // Under the lock, when try_now() said "waiting".
  Node* make_node(scheduler& home, std::coroutine_handle<> h) { return make_wait_node<Node>(home, h); }

 private:
  struct canceler {
    wait_awaitable* self;
    void operator()() const noexcept { self->cancel(); }
  };

  Derived& self() noexcept { return static_cast<Derived&>(*this); }

  // On the waiter's thread (its stop token fired).
  void cancel() noexcept {
    {
      std::lock_guard lock(Derived::lock_of(*owner_));
      if (node_->status != wait_status::waiting) return;  // a wake came first: its outcome stands
      Derived::queue_of(*owner_).remove(*node_);
      node_->status = wait_status::canceled;
    }
    node_->home->post(*node_);
  }

  void abandon() noexcept {
    cancel_hook_.reset();
    if (!node_) return;
    Node* n = std::exchange(node_, nullptr);
    if (resumed_) {
      n->release();
      return;
    }
    // The frame is being destroyed while suspended here (shutdown). Unlink, or, if a waker already
    // took the node, make sure its item will not resume a dead frame and hand on what it granted.
    bool linked = false;
    {
      std::lock_guard lock(Derived::lock_of(*owner_));
      if (n->status == wait_status::waiting) {
        Derived::queue_of(*owner_).remove(*n);
        linked = true;
      }
    }
    if (linked) {
      n->release();  // the list's reference: no item will ever run for it
    } else {
      n->frame_gone = true;
      if (n->status == wait_status::granted) Derived::give_back(*owner_, *n);
    }
    n->release();
  }

  Primitive* owner_;
  Node* node_ = nullptr;
  stop_token token_;
  std::optional<stop_callback<canceler>> cancel_hook_;
  wait_status outcome_ = wait_status::waiting;
  bool resumed_ = false;
};

}  // namespace couring::detail
