// channel<T>: a bounded multi-producer, multi-consumer queue between coroutines, within a shard
// or across shards; the way shards share a stream of work without sharing state.
//
//   channel<request> ch(64);
//   auto s = co_await ch.send(std::move(req));   // result<void>: waits while the channel is full
//   auto r = co_await ch.receive();              // result<request>: waits while it is empty
//   ch.close();                                  // from any thread
//
// Back-pressure: send() suspends while `capacity` values are buffered (capacity 0: every send
// waits for a receiver, a rendezvous). Values come out in the order their sends completed; a
// waiting receiver is handed a value directly, a waiting sender's value moves into the buffer as
// soon as there is room. Waiters resume on their own shards.
//
// close(): later sends, and sends still waiting, fail with couring::error::channel_closed (their
// values are dropped). Receives drain what is buffered first, then yield error::channel_closed.
// Every value whose send succeeded is received exactly once (unless the channel is destroyed with
// values still in it).
//
// Cancellation (the awaiting task's stop token): a waiting send or receive yields
// operation_canceled; a waiting send's value is dropped, not delivered. If a value reaches a
// waiting receiver at the moment it is cancelled, exactly one thing happens: the receiver gets
// the value, or it was cancelled first and the value goes to the next receiver (or the buffer).
//
// The channel must outlive its waiters. T must be nothrow-movable (values move under a lock).
#pragma once

#include <couring/assert.hpp>
#include <couring/errors.hpp>
#include <couring/result.hpp>
#include <couring/detail/wait_queue.hpp>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace couring {

template <class T>
class channel;

namespace detail {

// A waiting sender carries its value here; a waiting receiver is handed one here.
template <class T>
struct channel_node : wait_node {
  using wait_node::wait_node;
  std::optional<T> value;
};

template <class T>
class [[nodiscard]] channel_send_awaitable
    : public wait_awaitable<channel_send_awaitable<T>, channel<T>, channel_node<T>> {
  using base = wait_awaitable<channel_send_awaitable<T>, channel<T>, channel_node<T>>;
  friend base;

 public:
  channel_send_awaitable(channel<T>& ch, T value) noexcept : base(ch), value_(std::move(value)) {}
  channel_send_awaitable(channel_send_awaitable&&) noexcept = default;

  result<void> await_resume() noexcept {
    switch (this->finish()) {
      case wait_status::granted: return {};
      case wait_status::closed: return make_error_code(error::channel_closed);
      default: return std::errc::operation_canceled;
    }
  }

 private:
  static std::mutex& lock_of(channel<T>& ch) noexcept { return ch.mutex_; }
  static wait_list& queue_of(channel<T>& ch) noexcept { return ch.senders_; }
  wait_status try_now(wake_batch& woken) {
    channel<T>& ch = this->owner();
    if (ch.closed_) return wait_status::closed;
    if (ch.hand_to_receiver(*value_, woken)) return wait_status::granted;
    if (ch.buffer_.size() < ch.capacity_) {
      ch.buffer_.push_back(std::move(*value_));
      return wait_status::granted;
    }
    return wait_status::waiting;
  }
  channel_node<T>* make_node(scheduler& home, std::coroutine_handle<> h) {
    channel_node<T>* n = make_wait_node<channel_node<T>>(home, h);
    n->value.emplace(std::move(*value_));
    return n;
  }
  static void give_back(channel<T>&, channel_node<T>&) noexcept {}  // the value was delivered

  std::optional<T> value_;
};

template <class T>
class [[nodiscard]] channel_receive_awaitable
    : public wait_awaitable<channel_receive_awaitable<T>, channel<T>, channel_node<T>> {
  using base = wait_awaitable<channel_receive_awaitable<T>, channel<T>, channel_node<T>>;
  friend base;

 public:
  explicit channel_receive_awaitable(channel<T>& ch) noexcept : base(ch) {}
  channel_receive_awaitable(channel_receive_awaitable&&) noexcept = default;

  result<T> await_resume() noexcept {
    switch (this->finish()) {
      case wait_status::granted:
        if (this->node()) return std::move(*this->node()->value);
        return std::move(*value_);
      case wait_status::closed: return make_error_code(error::channel_closed);
      default: return std::errc::operation_canceled;
    }
  }

 private:
  static std::mutex& lock_of(channel<T>& ch) noexcept { return ch.mutex_; }
  static wait_list& queue_of(channel<T>& ch) noexcept { return ch.receivers_; }
  wait_status try_now(wake_batch& woken) {
    channel<T>& ch = this->owner();
    if (ch.take(value_, woken)) return wait_status::granted;
    return ch.closed_ ? wait_status::closed : wait_status::waiting;
  }
  // The value reached a frame that died before it resumed: it goes back to the channel.
  static void give_back(channel<T>& ch, channel_node<T>& n) noexcept { ch.put_back(std::move(*n.value)); }

  std::optional<T> value_;
};

}  // namespace detail

template <class T>
class channel {
  static_assert(std::is_nothrow_move_constructible_v<T>, "channel<T> needs a nothrow-movable T");

 public:
  using value_type = T;

  // `capacity`: values buffered before send() waits; 0 makes every send wait for a receiver.
  explicit channel(std::size_t capacity) noexcept : capacity_(capacity) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;
  ~channel() {
    COURING_ASSERT(senders_.empty() && receivers_.empty(), "a channel was destroyed while coroutines waited on it");
  }

  // co_await: result<void>; error::channel_closed, or operation_canceled.
  detail::channel_send_awaitable<T> send(T value) noexcept {
    return detail::channel_send_awaitable<T>(*this, std::move(value));
  }
  // co_await: result<T>; error::channel_closed once closed and drained, or operation_canceled.
  detail::channel_receive_awaitable<T> receive() noexcept { return detail::channel_receive_awaitable<T>(*this); }

  // Any thread, never waits. On failure `value` is left as it was: error::channel_closed, or
  // resource_unavailable_try_again when the channel is full.
  result<void> try_send(T&& value) {
    detail::wake_batch woken;
    std::lock_guard lock(mutex_);
    if (closed_) return make_error_code(error::channel_closed);
    if (hand_to_receiver(value, woken)) return {};
    if (buffer_.size() >= capacity_) return std::errc::resource_unavailable_try_again;
    buffer_.push_back(std::move(value));
    return {};
  }
  // Any thread, never waits: a value; error::channel_closed once closed and drained; or
  // resource_unavailable_try_again when nothing is there yet.
  result<T> try_receive() {
    detail::wake_batch woken;
    std::lock_guard lock(mutex_);
    std::optional<T> v;
    if (take(v, woken)) return std::move(*v);
    if (closed_) return make_error_code(error::channel_closed);
    return std::errc::resource_unavailable_try_again;
  }

  // Any thread. Fails every waiting sender and, the buffer being empty whenever receivers wait,
  // every waiting receiver. Returns false if it was already closed.
  bool close() noexcept {
    detail::wake_batch woken;
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    closed_ = true;
    while (detail::wait_node* s = senders_.pop_front()) woken.add(*s, detail::wait_status::closed);
    while (detail::wait_node* r = receivers_.pop_front()) woken.add(*r, detail::wait_status::closed);
    return true;
  }

  // Snapshots.
  bool is_closed() const noexcept {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  std::size_t size() const noexcept {
    std::lock_guard lock(mutex_);
    return buffer_.size();
  }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  friend class detail::channel_send_awaitable<T>;
  friend class detail::channel_receive_awaitable<T>;
  using node = detail::channel_node<T>;

  // Under the lock. A waiting receiver means the buffer is empty, so handing it `v` keeps order.
  bool hand_to_receiver(T& v, detail::wake_batch& woken) noexcept {
    auto* r = static_cast<node*>(receivers_.pop_front());
    if (!r) return false;
    r->value.emplace(std::move(v));
    woken.add(*r, detail::wait_status::granted);
    return true;
  }

  // Under the lock: the oldest value into `out`, refilling the buffer from the longest-waiting
  // sender. False if there is none.
  bool take(std::optional<T>& out, detail::wake_batch& woken) {
    auto* s = static_cast<node*>(senders_.front());
    if (!buffer_.empty()) {
      if (s && buffer_.size() <= capacity_) {
        // Taking one makes room for the longest-waiting sender, whose value goes in behind the
        // others. Pushed before anything is taken, so a bad_alloc leaves the channel as it was.
        // (The buffer can be over capacity only after put_back().)
        buffer_.push_back(std::move(*s->value));
        senders_.remove(*s);
        woken.add(*s, detail::wait_status::granted);
      }
      out.emplace(std::move(buffer_.front()));
      buffer_.pop_front();
      return true;
    }
    if (s) {  // capacity 0: straight from the sender
      out.emplace(std::move(*s->value));
      senders_.remove(*s);
      woken.add(*s, detail::wait_status::granted);
      return true;
    }
    return false;
  }

  // A value handed to a receiver that was destroyed before it resumed (shutdown) is not lost:
  // it goes to the next receiver, or back to the front of the buffer (even past capacity).
  void put_back(T&& v) noexcept {
    detail::wake_batch woken;
    std::lock_guard lock(mutex_);
    if (hand_to_receiver(v, woken)) return;
    try {
      buffer_.push_front(std::move(v));
    } catch (...) {
      // Out of memory while shutting down: the value is dropped rather than the process ended.
    }
  }

  mutable std::mutex mutex_;  // guards everything below; held only to move a value or two
  const std::size_t capacity_;
  std::deque<T> buffer_;
  detail::wait_list senders_;    // waiting only while the buffer is full (or capacity is 0)
  detail::wait_list receivers_;  // waiting only while the buffer is empty and no sender waits
  bool closed_ = false;
};

}  // namespace couring
