// What accept_stream and recv_stream share: results waiting to be taken, the one consumer waiting
// for them (cancellable through its stop token), how the stream ended, and a reference count that
// keeps the state alive until the kernel's last completion for it has arrived, even after the
// stream object is gone. Owner thread (the shard that created the stream) only.
#pragma once

#include <couring/assert.hpp>
#include <couring/detail/lazy_fifo.hpp>
#include <couring/resume_item.hpp>
#include <couring/result.hpp>
#include <couring/scheduler.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>

#include <coroutine>
#include <optional>
#include <system_error>

namespace couring::detail {

template <class T>
class stream_core {
 public:
  stream_core() noexcept : owner_(scheduler::current()) {
    COURING_ASSERT(owner_ != nullptr, "a stream was created outside a couring runtime thread");
  }
  virtual ~stream_core() = default;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

  scheduler& owner() const noexcept { return *owner_; }
  bool stopped() const noexcept { return stopped_; }
  bool ended() const noexcept { return ended_; }
  std::size_t queued() const noexcept { return items_.size(); }

  // Producer side. An error pushed as an item is reported once, in order, and the stream goes on.
  void push(result<T> item) {
    items_.push(std::move(item));
    wake_consumer();
  }
  void end(std::error_code why) noexcept {
    if (ended_) return;
    ended_ = true;
    why_ = why;
    wake_consumer();
  }

  // The stream object is going away (or stop() was called): producers stop, queued results go.
  void stop() noexcept {
    if (stopped_) return;
    stopped_ = true;
    items_.clear();
    end(std::make_error_code(std::errc::operation_canceled));
    on_stop();
  }

  // Consumer side, used by next_awaitable.
  bool ready() const noexcept { return !items_.empty() || ended_; }
  void wait(std::coroutine_handle<> h, const stop_token* token) {
    consumer_.handle = h;
    waiting_ = true;
    if (token && token->stop_possible()) cancel_hook_.emplace(*token, cancel_wait{this});
  }
  result<T> take() {
    cancel_hook_.reset();
    if (wait_cancelled_) {
      wait_cancelled_ = false;
      return std::make_error_code(std::errc::operation_canceled);
    }
    if (!items_.empty()) {
      result<T> item = items_.pop();
      on_taken();
      return item;
    }
    return why_;
  }
  // The awaiting task was already cancelled: the wait ends at once with operation_canceled.
  void refuse_wait() noexcept { wait_cancelled_ = true; }
  // The awaiting frame is being destroyed while it waits (shutdown).
  void abandon_wait() noexcept {
    cancel_hook_.reset();
    waiting_ = false;
  }

 protected:
  virtual void on_stop() noexcept {}   // stop producing (cancel the armed op, wake the driver)
  virtual void on_taken() noexcept {}  // room in the queue again (resume a paused producer)

 private:
  struct cancel_wait {
    stream_core* core;
    void operator()() const noexcept {
      if (!core->waiting_) return;
      core->wait_cancelled_ = true;
      core->wake_consumer();
    }
  };
  void wake_consumer() noexcept {
    if (!waiting_) return;
    waiting_ = false;
    owner_->post(consumer_);
  }

  scheduler* owner_;
  unsigned refs_ = 1;  // the stream object
  lazy_fifo<result<T>> items_;
  bool ended_ = false;
  bool stopped_ = false;
  std::error_code why_;
  resume_item consumer_;
  bool waiting_ = false;
  bool wait_cancelled_ = false;
  std::optional<stop_callback<cancel_wait>> cancel_hook_;
};

// `co_await stream.next()`: the next result, or how the stream ended (end_of_file,
// operation_canceled after stop(), an error). Cancelling the awaiting task ends only the wait.
template <class T>
class [[nodiscard]] next_awaitable {
 public:
  explicit next_awaitable(stream_core<T>* core) noexcept : core_(core) { core_->add_ref(); }
  next_awaitable(next_awaitable&& o) noexcept : core_(std::exchange(o.core_, nullptr)) {}
  next_awaitable& operator=(next_awaitable&&) = delete;
  ~next_awaitable() {
    if (!core_) return;
    if (suspended_) core_->abandon_wait();
    core_->release();
  }

  bool await_ready() const noexcept { return core_->ready(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    const stop_token* t = token_of(h);
    if (t && t->stop_requested()) {
      core_->refuse_wait();
      return false;
    }
    core_->wait(h, t);
    suspended_ = true;
    return true;
  }
  result<T> await_resume() {
    suspended_ = false;
    return core_->take();
  }

 private:
  stream_core<T>* core_;
  bool suspended_ = false;
};

}  // namespace couring::detail
