#include "connection.hpp"

#include "../common/server.hpp"

#include <couring/couring.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace kv {

using namespace couring;

namespace {

constexpr std::size_t read_chunk = 16 * 1024;
constexpr std::size_t flush_at = 64 * 1024;  // a long pipeline's replies go out in pieces this big

// A client's received bytes not yet executed, in [begin, end) of one allocation. Everything it
// holds beyond read_chunk is charged to the server's query_memory while it holds it: a buffer
// grown for a big command goes back to read_chunk as soon as the command has run.
class query_buffer {
 public:
  explicit query_buffer(query_memory& m) : memory_(m) {}
  query_buffer(const query_buffer&) = delete;
  query_buffer& operator=(const query_buffer&) = delete;
  ~query_buffer() { memory_.give_back(charge()); }

  std::string_view pending() const { return {data_.get() + begin_, end_ - begin_}; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  mutable_buffer room() { return buffer(data_.get() + end_, capacity_ - end_); }
  void received(std::size_t n) { end_ += n; }

  // Makes room for a read; false if that would take all clients past their limit. The
  // pending bytes move to the front first (the parser keeps offsets from the command's start, so
  // moving them is harmless).
  bool make_room(std::size_t per_client) {
    if (begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ > 0 && capacity_ - end_ >= read_chunk / 4) return true;
    // Doubling, so that a big command costs few copies; the caller has refused a client whose
    // pending bytes exceed `per_client`, so this is at least a read's worth more.
    if (capacity_ == 0) return resize(read_chunk);
    return resize(std::min(std::max(end_ + read_chunk, 2 * capacity_), per_client + read_chunk));
  }

  // After the commands ran: a buffer grown beyond read_chunk goes back to it if what is left fits.
  void settle() {
    if (capacity_ > read_chunk && end_ - begin_ <= read_chunk / 2) (void)resize(read_chunk);
  }

 private:
  std::size_t charge() const { return capacity_ > read_chunk ? capacity_ - read_chunk : 0; }

  bool resize(std::size_t size) {
    std::size_t old_charge = charge(), new_charge = size > read_chunk ? size - read_chunk : 0;
    if (new_charge > old_charge && !memory_.try_take(new_charge - old_charge)) return false;
    auto bigger = std::make_unique_for_overwrite<char[]>(size);
    if (end_ > begin_) std::memcpy(bigger.get(), data_.get() + begin_, end_ - begin_);  // none on the first
    end_ -= begin_;
    begin_ = 0;
    data_ = std::move(bigger);
    capacity_ = size;
    if (new_charge < old_charge) memory_.give_back(old_charge - new_charge);
    return true;
  }

  query_memory& memory_;
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0, begin_ = 0, end_ = 0;
};

}  // namespace

task<void> serve_connection(tcp_stream conn, keyspace ks, const client_limits& l, query_memory& m) {
  query_buffer in(m);
  resp::parser parser(l.protocol);
  std::string out;  // replies not yet sent
  std::vector<std::string_view> args;
  for (;;) {
    bool close = false;
    for (;;) {
      auto parsed = parser.parse(in.pending(), args);
      if (parsed.outcome == resp::parse_result::kind::incomplete) {
        if (in.pending().size() <= l.max_query_buffer) break;
        parsed = {resp::parse_result::kind::protocol_error, 0, "Protocol error: command too large"};
      }
      if (parsed.outcome == resp::parse_result::kind::protocol_error) {
        // The framing is lost: nothing after this point can be trusted to start a command.
        resp::error(out, "ERR " + parsed.error);
        close = true;
        break;
      }
      if (!args.empty() && !co_await execute(args, out, ks)) close = true;
      in.consume(parsed.consumed);  // after execute: args point into these bytes
      if (args.capacity() > 1024) std::vector<std::string_view>().swap(args);  // a huge command's views
      if (close) break;
      if (out.size() >= flush_at) {
        auto sent = co_await send_all(conn.fd(), const_buffer_of(out));
        if (!sent) co_return;
        out.clear();
      }
    }
    in.settle();
    if (!close && !in.make_room(l.max_query_buffer)) {
      resp::error(out, "ERR the server's memory for commands being received is full (max-query-memory)");
      close = true;
    }
    if (!out.empty()) {
      auto sent = co_await send_all(conn.fd(), const_buffer_of(out));
      if (!sent) co_return;
      out.clear();
      if (out.capacity() > flush_at * 2) std::string().swap(out);  // the reply of a big GET: give it back
    }
    if (close) {
      co_await samples::close_gracefully(conn);
      co_return;
    }
    auto n = l.timeout.count() > 0 ? co_await conn.recv(in.room()).with_timeout(l.timeout) : co_await conn.recv(in.room());
    if (!n || *n == 0) co_return;  // the client left or idled too long, or the server is stopping
    in.received(*n);
  }
}

}  // namespace kv
