#include "io/backend/backend.hpp"

#include <couring/errors.hpp>
#include <couring/ops.hpp>
#include <couring/recv_stream.hpp>
#include <couring/spawn.hpp>

#include <poll.h>

namespace couring {
namespace {

class recv_core final : public detail::stream_core<pooled_buffer>, private op_observer {
 public:
  recv_core(int fd, buffer_pool& pool)
      : fd_(fd), pool_(pool), io_(*backend::current()), op_(recv_multishot_req{fd, pool.group(), 0}) {
    op_.observer = this;
    multishot_ = pool.kernel_selects() && io_.native(kind_index<recv_multishot_req>);
    if (multishot_) {
      arm();
    } else {
      add_ref();  // the loop's
      spawn(receive_loop(this));
    }
  }

  bool multishot() const noexcept { return multishot_; }

 private:
  // ---- one multishot recv, the kernel choosing buffers -----------------------------------------
  void arm() noexcept {
    add_ref();  // the armed op's: the kernel may complete it after the stream object is gone
    armed_ = true;
    submit_on_current(op_);
  }

  void on_result(op_base& o) noexcept override {
    const bool last = o.state == op_state::completed;
    handle_result(o.res, op_.cqe_flags);
    if (!last) return;
    armed_ = false;
    if (!stopped() && !ended() && !paused_ && !owner().stopping()) arm();  // the kernel ended it: go on
    release();
  }

  void handle_result(int res, std::uint32_t flags) noexcept {
    if (res > 0 && (flags & cqe_flag_buffer)) {
      auto id = static_cast<std::uint16_t>(flags >> cqe_buffer_shift);
      pool_.taken_by_kernel();
      pooled_buffer chunk(&pool_, id, static_cast<std::size_t>(res));
      if (!stopped()) push(std::move(chunk));  // else it goes straight back to the ring
    } else if (res == 0) {
      end(error::end_of_file);
    } else if (res == -ENOBUFS) {
      // Every buffer was held when the kernel looked: wait for one to come back, the bytes
      // staying in the socket meanwhile. But this final completion reaches us through the run
      // queue, after the consumer may already have given buffers back (with nobody waiting to
      // hear of it): then re-arm at once, or the stream would wait forever.
      if (pool_.available() == 0) {
        paused_ = true;
        pool_.notify_on_return(buffers_back_);
      }
    } else if (res < 0 && !(res == -ECANCELED && (stopped() || owner().stopping()))) {
      end(error_from_res(res));
    }
  }

  struct buffers_back : work_item {
    explicit buffers_back(recv_core* c) noexcept : work_item(&buffers_back::run), core(c) {}
    static void run(work_item& w) noexcept { static_cast<buffers_back&>(w).core->on_buffers_back(); }
    recv_core* core;
  };

  void on_buffers_back() noexcept {
    if (multishot_) {
      paused_ = false;
      if (!armed_ && !stopped() && !ended() && !owner().stopping()) arm();
    } else if (loop_waiting_) {
      loop_waiting_ = false;
      owner().post(loop_resume_);
    }
  }

  // ---- elsewhere: a loop of recvs into buffers taken from the pool -----------------------------
  struct loop_share {
    recv_core* core;
    ~loop_share() {
      core->loop_waiting_ = false;
      core->pool_.forget_notification(core->buffers_back_);
      core->release();
    }
  };

  struct buffer_wait {
    recv_core* core;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      core->loop_resume_.handle = h;
      core->loop_waiting_ = true;
      core->pool_.notify_on_return(core->buffers_back_);
    }
    void await_resume() const noexcept {}
  };

  static task<void> receive_loop(recv_core* c) {
    loop_share share{c};
    bool more_waiting = false;  // the last recv filled its buffer: more bytes are likely queued
    while (!c->stopped() && !c->ended()) {
      // An idle connection must own no buffer (as with the kernel's buffer ring): otherwise idle
      // connections could hold every buffer of the pool and starve the busy ones. So wait until
      // bytes are there, and only then take a buffer.
      if (!more_waiting) {
        auto readable = co_await couring::poll(c->fd_, POLLIN).with_token(c->loop_stop_.token());
        if (!readable && (c->stopped() || c->owner().stopping())) break;
        // Errors and hang-ups are reported by the recv below, with the bytes still queued first.
      }
      auto id = c->pool_.take();
      if (!id) {
        co_await buffer_wait{c};
        continue;
      }
      auto n = co_await couring::recv(c->fd_, mutable_buffer(c->pool_.address(*id), c->pool_.buffer_size()))
                   .with_token(c->loop_stop_.token());
      if (!n || *n == 0) {
        c->pool_.give_back(*id);
        if (!n && (c->stopped() || c->owner().stopping())) break;
        c->end(n ? std::error_code(error::end_of_file) : n.error());
        break;
      }
      more_waiting = *n == c->pool_.buffer_size();
      c->push(pooled_buffer(&c->pool_, *id, *n));
    }
  }

  void on_stop() noexcept override {
    if (multishot_) {
      pool_.forget_notification(buffers_back_);
      if (armed_) io_.cancel(op_);
    } else {
      loop_stop_.request_stop();
      on_buffers_back();  // a loop waiting for a buffer sees the stop
    }
  }

  int fd_;
  buffer_pool& pool_;
  backend& io_;  // this shard's
  bool multishot_ = false;
  multishot_op op_;
  bool armed_ = false;
  bool paused_ = false;
  buffers_back buffers_back_{this};
  stop_source loop_stop_;
  resume_item loop_resume_;
  bool loop_waiting_ = false;
};

}  // namespace

recv_stream::recv_stream(int fd, buffer_pool& pool) : core_(new recv_core(fd, pool)) {}

recv_stream::~recv_stream() {
  if (!core_) return;
  core_->stop();
  core_->release();
}

bool recv_stream::multishot() const noexcept { return static_cast<const recv_core*>(core_)->multishot(); }

}  // namespace couring
