// A single-thread stop token: the cancellation signal that tasks inherit and ops observe.
//
// std::stop_token is thread-safe, which costs atomics and a heap-allocated shared state even for a
// token nobody ever stops. couring's rule is "one owner thread per shard; other threads send
// messages", so a token and everything registered on it live on one thread, and an unused token is
// a null pointer: an op awaited without a stoppable token pays one branch.
#pragma once

#include <utility>

namespace couring {

namespace detail {

struct stop_callback_node {
  using invoke_fn = void (*)(stop_callback_node&) noexcept;
  explicit stop_callback_node(invoke_fn fn) noexcept : invoke(fn) {}

  stop_callback_node* prev = nullptr;
  stop_callback_node* next = nullptr;
  invoke_fn invoke;
};

struct stop_state {
  unsigned refs = 1;
  bool requested = false;
  stop_callback_node* head = nullptr;

  void add_ref() noexcept { ++refs; }
  // Not inlined: once a source and a token of the same state die in one function, GCC 12's
  // -Wuse-after-free cannot tell that only the last release deletes, and -Werror stops the build.
  [[gnu::noinline]] void release() noexcept {
    if (--refs == 0) delete this;
  }

  void link(stop_callback_node& n) noexcept {
    n.prev = nullptr;
    n.next = head;
    if (head) head->prev = &n;
    head = &n;
  }
  void unlink(stop_callback_node& n) noexcept {
    if (n.prev) n.prev->next = n.next; else if (head == &n) head = n.next;
    if (n.next) n.next->prev = n.prev;
    n.prev = n.next = nullptr;
  }
};

}  // namespace detail

class stop_token {
 public:
  stop_token() noexcept = default;
  stop_token(const stop_token& o) noexcept : state_(o.state_) { if (state_) state_->add_ref(); }
  stop_token(stop_token&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
  stop_token& operator=(stop_token o) noexcept {
    std::swap(state_, o.state_);
    return *this;
  }
  ~stop_token() { if (state_) state_->release(); }

  bool stop_possible() const noexcept { return state_ != nullptr; }
  bool stop_requested() const noexcept { return state_ && state_->requested; }

 private:
  friend class stop_source;
  template <class F> friend class stop_callback;
  explicit stop_token(detail::stop_state* s) noexcept : state_(s) { state_->add_ref(); }
  detail::stop_state* state_ = nullptr;
};

// Owns the stop state. Move-only; tokens keep the state alive after the source is gone.
class stop_source {
 public:
  stop_source() : state_(new detail::stop_state) {}
  stop_source(stop_source&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
  stop_source& operator=(stop_source&& o) noexcept {
    std::swap(state_, o.state_);
    return *this;
  }
  stop_source(const stop_source&) = delete;
  stop_source& operator=(const stop_source&) = delete;
  ~stop_source() { if (state_) state_->release(); }

  stop_token token() const noexcept { return stop_token(state_); }
  bool stop_requested() const noexcept { return state_->requested; }

  // Runs every registered callback once, on this thread, newest first. Returns false if stop had
  // already been requested. A callback may unregister others or register new ones safely: each is
  // unlinked before it runs, and a callback registered after the request runs at registration.
  bool request_stop() noexcept {
    if (state_->requested) return false;
    state_->requested = true;
    state_->add_ref();  // a callback may destroy this source
    detail::stop_state* s = state_;
    while (detail::stop_callback_node* n = s->head) {
      s->unlink(*n);
      n->invoke(*n);
    }
    s->release();
    return true;
  }

 private:
  detail::stop_state* state_;
};

// Calls `fn()` when stop is requested on the token (at once if it already was). Unregisters on
// destruction. Immovable: the state points at it.
template <class F>
class stop_callback : private detail::stop_callback_node {
 public:
  stop_callback(const stop_token& token, F fn) noexcept
      : stop_callback_node(&stop_callback::fire), fn_(std::move(fn)) {
    if (!token.state_) return;
    if (token.state_->requested) {
      fn_();
      return;
    }
    state_ = token.state_;
    state_->add_ref();
    state_->link(*this);
  }
  stop_callback(const stop_callback&) = delete;
  stop_callback& operator=(const stop_callback&) = delete;
  ~stop_callback() {
    if (state_) {
      state_->unlink(*this);
      state_->release();
    }
  }

 private:
  static void fire(detail::stop_callback_node& n) noexcept {
    auto& self = static_cast<stop_callback&>(n);
    self.fn_();
  }
  F fn_;
  detail::stop_state* state_ = nullptr;
};

}  // namespace couring
