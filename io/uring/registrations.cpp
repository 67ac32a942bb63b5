#include "registrations.hpp"

#include <couring/error.hpp>

namespace couring::uring {
namespace {

class ring_files final : public registered_files {
 public:
  explicit ring_files(io_uring* r) noexcept : ring_(r) {}
  ~ring_files() override { io_uring_unregister_files(ring_); }
  int update(unsigned slot, int fd) noexcept override {
    int r = io_uring_register_files_update(ring_, slot, &fd, 1);
    return r < 0 ? r : 0;
  }

 private:
  io_uring* ring_;
};

class ring_buffers final : public registered_buffers {
 public:
  explicit ring_buffers(io_uring* r) noexcept : ring_(r) {}
  ~ring_buffers() override { io_uring_unregister_buffers(ring_); }

 private:
  io_uring* ring_;
};

}  // namespace

result<std::unique_ptr<registered_files>> register_files(io_uring* ring, unsigned slots) {
  if (int r = io_uring_register_files_sparse(ring, slots); r < 0) return error_from_res(r);
  return std::unique_ptr<registered_files>(std::make_unique<ring_files>(ring));
}

result<std::unique_ptr<registered_buffers>> register_buffers(io_uring* ring, const iovec* buffers, unsigned count) {
  // Registration pins the pages and charges RLIMIT_MEMLOCK: ENOMEM here is the common refusal.
  if (int r = io_uring_register_buffers(ring, buffers, count); r < 0) return error_from_res(r);
  return std::unique_ptr<registered_buffers>(std::make_unique<ring_buffers>(ring));
}

}  // namespace couring::uring
