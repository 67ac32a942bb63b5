// asio_echo: the Boost.Asio echo server as its documentation teaches it: a session object per
// connection, async_read_some into the session's buffer, async_write of what came, repeat. Built
// twice (benchmarks/meson.build): on Asio's default reactor (epoll) and with
// BOOST_ASIO_HAS_IO_URING + BOOST_ASIO_DISABLE_EPOLL, where sockets go through io_uring.
// One io_context with concurrency hint 1: a single thread, so Asio skips its internal locking.
//
//   asio_echo_epoll --port P      asio_echo_uring --port P
#include "../common/args.hpp"
#include "../common/nofile_limit.hpp"
#include "listen_socket.hpp"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (GCC 12 no
// longer pulls it in transitively).
#include <utility>

#include <boost/asio.hpp>

#include <array>
#include <memory>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
 public:
  explicit session(tcp::socket socket) : socket_(std::move(socket)) {}

  void read() {
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      if (!ec) self->write(n);
    });
  }

 private:
  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buf_.data(), n),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (!ec) self->read();
                      });
  }

  tcp::socket socket_;
  std::array<char, 2048> buf_;  // a message is at most 512 bytes here; the size couring's ring uses
};

class acceptor {
 public:
  acceptor(asio::io_context& io, std::uint16_t port)
      : acceptor_(io, tcp::v4(), bench::listen_on_loopback(port, false)) {}

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        std::make_shared<session>(std::move(socket))->read();
      }
      accept();
    });
  }

 private:
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--port P]   (Boost.Asio echo server; 7000 by default)");
  auto port = static_cast<std::uint16_t>(a.number("port", 7000));
  bench::raise_nofile_limit(16384);
  asio::io_context io(1);
  acceptor server(io, port);
  server.accept();
#if defined(BOOST_ASIO_HAS_IO_URING) && defined(BOOST_ASIO_DISABLE_EPOLL)
  bench::announce_ready("Boost.Asio io_uring");
#else
  bench::announce_ready("Boost.Asio epoll");
#endif
  io.run();
}
