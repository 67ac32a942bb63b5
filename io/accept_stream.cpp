#include "io/backend/backend.hpp"

#include <couring/accept_stream.hpp>
#include <couring/spawn.hpp>

namespace couring {
namespace {

class accept_core final : public detail::stream_core<tcp_stream>, private op_observer {
 public:
  accept_core(int fd, std::size_t max_queued)
      : fd_(fd),
        max_queued_(max_queued ? max_queued : 1),
        io_(*backend::current()),
        op_(accept_multishot_req{fd, SOCK_CLOEXEC}) {
    op_.observer = this;
    multishot_ = io_.native(kind_index<accept_multishot_req>);
    if (multishot_) {
      arm();
    } else {
      add_ref();  // the loop's
      spawn(accept_loop(this));
    }
  }

  bool multishot() const noexcept { return multishot_; }

 private:
  void arm() noexcept {
    add_ref();  // the armed op's: the kernel may complete it after the stream object is gone
    armed_ = true;
    submit_on_current(op_);
  }

  void on_result(op_base& o) noexcept override {
    const bool last = o.state == op_state::completed;
    handle_result(o.res);
    if (!last) return;
    armed_ = false;
    if (!stopped() && !paused_ && !owner().stopping()) arm();  // the kernel ended it: go on
    release();
  }

  void handle_result(int res) noexcept {
    if (res >= 0) {
      tcp_stream conn{unique_fd(res)};
      if (stopped()) return;  // closed at once
      push(std::move(conn));
      if (queued() >= max_queued_ && armed_ && !paused_) {
        // The consumer is behind: stop taking connections off the backlog until it catches up.
        paused_ = true;
        io_.cancel(op_);
      }
    } else if (res != -ECANCELED) {
      push(error_from_res(res));  // reported in order; accepting goes on once it was taken
      // The kernel ended the multishot op with it. Re-arming at once would meet the same error
      // (EMFILE with the backlog still full, an opcode the ring refuses) in a busy loop that
      // also queues errors without bound: wait until the consumer has seen this one.
      paused_ = true;
    }
  }

  void on_taken() noexcept override {
    if (queued() > max_queued_ / 2) return;
    if (multishot_) {
      if (paused_) {
        paused_ = false;
        if (!armed_ && !stopped() && !owner().stopping()) arm();
      }
    } else if (loop_waiting_) {
      loop_waiting_ = false;
      owner().post(loop_resume_);
    }
  }

  // ---- elsewhere: a loop of accepts -------------------------------------------------------------
  struct loop_share {
    accept_core* core;
    ~loop_share() {
      core->loop_waiting_ = false;
      core->release();
    }
  };
  struct room_wait {
    accept_core* core;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      core->loop_resume_.handle = h;
      core->loop_waiting_ = true;
    }
    void await_resume() const noexcept {}
  };

  static task<void> accept_loop(accept_core* c) {
    loop_share share{c};
    while (!c->stopped()) {
      if (c->queued() >= c->max_queued_) {
        co_await room_wait{c};
        continue;
      }
      auto conn = co_await couring::accept(c->fd_).with_token(c->loop_stop_.token());
      if (!conn) {
        if (c->stopped() || c->owner().stopping()) break;
        c->push(conn.error());
        continue;
      }
      c->push(tcp_stream(std::move(*conn)));
    }
  }

  void on_stop() noexcept override {
    if (multishot_) {
      if (armed_) io_.cancel(op_);
    } else {
      loop_stop_.request_stop();
      if (loop_waiting_) {
        loop_waiting_ = false;
        owner().post(loop_resume_);
      }
    }
  }

  int fd_;
  std::size_t max_queued_;
  backend& io_;  // this shard's
  bool multishot_ = false;
  multishot_op op_;
  bool armed_ = false;
  bool paused_ = false;
  stop_source loop_stop_;
  resume_item loop_resume_;
  bool loop_waiting_ = false;
};

}  // namespace

accept_stream::accept_stream(const tcp_listener& listener, std::size_t max_queued)
    : core_(new accept_core(listener.fd(), max_queued)) {}

accept_stream::~accept_stream() {
  if (!core_) return;
  core_->stop();
  core_->release();
}

bool accept_stream::multishot() const noexcept { return static_cast<const accept_core*>(core_)->multishot(); }

}  // namespace couring
