#include <couring/couring.hpp>
#include <fcntl.h>
using namespace couring;

task<void> echo(tcp_stream conn, std::string greeting) {     // one coroutine per connection
  char buf[4096];
  auto hello = co_await send_all(conn.fd(), const_buffer_of(greeting));
  for (auto n = co_await conn.recv(buffer(buf)); hello && n && *n > 0; n = co_await conn.recv(buffer(buf)))
    if (auto sent = co_await send_all(conn.fd(), buffer(buf, *n)); !sent) break;
}

task<void> serve() {
  std::string greeting = "hello\n";
  if (auto f = co_await file::open("/etc/motd", O_RDONLY)) (void)co_await read_to_end(f->fd(), greeting);
  auto listener = tcp_listener::bind(endpoint::loopback_v4(7000)).value();  // .value() throws on error
  for (;;) spawn(echo((co_await listener.accept()).value(), greeting));
}

int main() { run(serve()); }
