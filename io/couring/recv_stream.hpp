// recv_stream: a socket's incoming bytes as a stream of pool buffers.
//
//   buffer_pool pool(256, 4096);
//   recv_stream in(conn, pool);
//   for (;;) {
//     auto chunk = co_await in.next();          // result<pooled_buffer>
//     if (!chunk) break;                        // end_of_file, an error, or operation_canceled
//     consume(chunk->bytes());                  // the buffer returns to the pool with `chunk`
//   }
//
// On io_uring (6.0+) one multishot recv with buffer selection serves the whole stream: the kernel
// fills a pool buffer per completion and the stream re-arms it whenever the kernel ends it. When
// the pool runs dry the kernel stops with ENOBUFS; the stream pauses, leaving the bytes in the
// socket, and re-arms as soon as a buffer comes back: nothing is dropped, nothing spins.
// Elsewhere the stream receives into pool buffers itself, one recv at a time, with the same API
// and the same bound on memory (the pool's size).
#pragma once

#include <couring/buffer_pool.hpp>
#include <couring/socket.hpp>
#include <couring/detail/stream_core.hpp>

namespace couring {

class recv_stream {
 public:
  recv_stream(int fd, buffer_pool& pool);
  recv_stream(const stream_socket& s, buffer_pool& pool) : recv_stream(s.fd(), pool) {}
  recv_stream(recv_stream&& o) noexcept : core_(std::exchange(o.core_, nullptr)) {}
  recv_stream& operator=(recv_stream&&) = delete;
  recv_stream(const recv_stream&) = delete;
  ~recv_stream();

  // The next chunk; couring::error::end_of_file once the peer closed and everything was taken.
  detail::next_awaitable<pooled_buffer> next() noexcept { return detail::next_awaitable<pooled_buffer>(core_); }
  // Stops receiving; chunks not yet taken are given back. next() then yields operation_canceled.
  void stop() noexcept { core_->stop(); }
  // Whether one multishot recv serves the stream (false: it loops over recv itself).
  bool multishot() const noexcept;

 private:
  detail::stream_core<pooled_buffer>* core_;
};

}  // namespace couring
