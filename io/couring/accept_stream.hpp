// accept_stream: a listener's incoming connections as a stream.
//
//   accept_stream incoming(listener);
//   while (auto conn = co_await incoming.next()) spawn(serve(std::move(*conn)));
//
// On io_uring (5.19+) one multishot accept serves the stream, re-armed whenever the kernel ends
// it. Connections the consumer has not taken yet wait in the stream, up to `max_queued`; beyond
// that the multishot accept is cancelled (the kernel's backlog holds further connections) and
// re-armed once the consumer catches up: back-pressure instead of unbounded memory. Elsewhere the
// stream loops over accept with the same API and the same bound.
#pragma once

#include <couring/socket.hpp>
#include <couring/detail/stream_core.hpp>

#include <cstddef>

namespace couring {

class accept_stream {
 public:
  explicit accept_stream(const tcp_listener& listener, std::size_t max_queued = 64);
  accept_stream(accept_stream&& o) noexcept : core_(std::exchange(o.core_, nullptr)) {}
  accept_stream& operator=(accept_stream&&) = delete;
  accept_stream(const accept_stream&) = delete;
  ~accept_stream();

  // The next connection. An accept error (EMFILE, ENFILE...) is reported here and accepting goes
  // on; after stop(), operation_canceled.
  detail::next_awaitable<tcp_stream> next() noexcept { return detail::next_awaitable<tcp_stream>(core_); }
  // Stops accepting; connections not yet taken are closed.
  void stop() noexcept { core_->stop(); }
  bool multishot() const noexcept;

 private:
  detail::stream_core<tcp_stream>* core_;
};

}  // namespace couring
