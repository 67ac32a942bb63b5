// uring_echo: the raw liburing echo server, written with the same kernel features couring's
// server uses, so that the ratio measures couring's own cost and not a feature gap: one multishot
// accept, one multishot recv per connection selecting buffers from a provided-buffer ring, and a
// send per message straight from the received buffer, which returns to the ring once sent.
// The ring has the same setup flags as couring's (ring_setup.hpp).
//
//   uring_echo --port P
#include "../common/args.hpp"
#include "../common/nofile_limit.hpp"
#include "listen_socket.hpp"
#include "ring_setup.hpp"

#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <memory>

namespace {

constexpr unsigned buffer_count = 1024;  // as couring_echo: each connection holds at most one
constexpr unsigned buffer_size = 2048;
constexpr unsigned group_id = 1;

// What a completion is about, packed in user_data: the kind, the socket, and for a send the
// buffer it sends from and where this send started in it (a short send is resubmitted for the rest).
enum kind : std::uint64_t { accept_kind = 1, recv_kind = 2, send_kind = 3 };

std::uint64_t tag(kind k, int fd, unsigned buffer = 0, unsigned offset = 0) {
  return (std::uint64_t{k} << 56) | (std::uint64_t(static_cast<std::uint32_t>(fd)) << 24) |
         (std::uint64_t{buffer} << 12) | offset;
}
kind kind_of(std::uint64_t t) { return static_cast<kind>(t >> 56); }
int fd_of(std::uint64_t t) { return static_cast<int>((t >> 24) & 0xffffffff); }
unsigned buffer_of(std::uint64_t t) { return static_cast<unsigned>((t >> 12) & 0xfff); }
unsigned offset_of(std::uint64_t t) { return static_cast<unsigned>(t & 0xfff); }
static_assert(buffer_count <= 0x1000 && buffer_size <= 0x1000, "tag() packs both in 12 bits");

class server {
 public:
  explicit server(int listener) : listener_(listener), memory_(new char[buffer_count * buffer_size]) {
    bench::setup_ring(ring_, 4096);
    setup_buffer_ring();
    arm_accept();
  }

  [[noreturn]] void run() {
    for (;;) {
      (void)io_uring_submit_and_wait(&ring_, 1);
      io_uring_cqe* cqe;
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        complete(cqe->user_data, cqe->res, cqe->flags);
      }
      io_uring_cq_advance(&ring_, seen);
    }
  }

 private:
  void setup_buffer_ring() {
    void* mem = ::mmap(nullptr, buffer_count * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
      std::perror("mmap");
      std::exit(1);
    }
    bufs_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(bufs_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
    reg.ring_entries = buffer_count;
    reg.bgid = group_id;
    if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r < 0) {
      std::fprintf(stderr, "io_uring_register_buf_ring: %s\n", std::strerror(-r));
      std::exit(77);
    }
    for (unsigned id = 0; id < buffer_count; ++id) give_back(id, id == buffer_count - 1);
  }

  void give_back(unsigned id, bool publish = true) {
    io_uring_buf_ring_add(bufs_, memory_.get() + std::size_t{id} * buffer_size, buffer_size,
                          static_cast<unsigned short>(id), io_uring_buf_ring_mask(buffer_count), pending_returns_++);
    if (publish) {
      io_uring_buf_ring_advance(bufs_, static_cast<int>(pending_returns_));
      pending_returns_ = 0;
    }
  }

  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    while (!s) {  // SQ full: hand what is queued to the kernel and take a fresh entry
      (void)io_uring_submit(&ring_);
      s = io_uring_get_sqe(&ring_);
    }
    return s;
  }

  void arm_accept() {
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept(s, listener_, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, tag(accept_kind, listener_));
  }

  void arm_recv(int fd) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = group_id;
    io_uring_sqe_set_data64(s, tag(recv_kind, fd));
  }

  void send(int fd, unsigned id, unsigned offset, unsigned len) {
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, fd, memory_.get() + std::size_t{id} * buffer_size + offset, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, tag(send_kind, fd, id, offset));
  }

  void complete(std::uint64_t t, int res, unsigned flags) {
    switch (kind_of(t)) {
      case accept_kind:
        if (res >= 0) {
          bench::set_nodelay(res);
          arm_recv(res);
        }
        if (!(flags & IORING_CQE_F_MORE)) arm_accept();  // the kernel ended the multishot: re-arm
        break;
      case recv_kind: {
        int fd = fd_of(t);
        if (res > 0) {
          unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
          length_[id] = static_cast<unsigned>(res);
          send(fd, id, 0, length_[id]);
          if (!(flags & IORING_CQE_F_MORE)) arm_recv(fd);
        } else if (res == -ENOBUFS) {
          arm_recv(fd);  // every buffer is in a send; they come back as the sends complete
        } else {
          if (flags & IORING_CQE_F_BUFFER) give_back(flags >> IORING_CQE_BUFFER_SHIFT);
          ::close(fd);  // EOF or an error
        }
        break;
      }
      case send_kind: {
        unsigned id = buffer_of(t), done = offset_of(t) + static_cast<unsigned>(res < 0 ? 0 : res);
        if (res > 0 && done < length_[id]) {
          send(fd_of(t), id, done, length_[id] - done);  // short send: the rest, same buffer
        } else {
          give_back(id);  // sent, or failed (then the recv side sees the error too and closes)
        }
        break;
      }
    }
  }

  io_uring ring_{};
  int listener_;
  std::unique_ptr<char[]> memory_;
  io_uring_buf_ring* bufs_ = nullptr;
  unsigned pending_returns_ = 0;
  unsigned length_[buffer_count] = {};  // bytes received into each buffer, while it is sent
};

}  // namespace

int main(int argc, char** argv) {
  bench::args a(argc, argv, "[--port P]   (raw liburing echo server; 7000 by default)");
  auto port = static_cast<std::uint16_t>(a.number("port", 7000));
  bench::raise_nofile_limit(16384);
  server s(bench::listen_on_loopback(port, false));
  bench::announce_ready("raw liburing");
  s.run();
}
