// file_table: registered ("direct") descriptors. Where the ring has the table registered
// (IORING_REGISTER_FILES), an op names a slot with IOSQE_FIXED_FILE and the kernel skips its
// per-op file lookup and reference counting; accept and open can put a new descriptor straight
// into a slot, without it ever entering the process's fd table. Elsewhere (the thread pool, or a
// refused registration, reported once) the table holds ordinary descriptors and the same calls
// work on them: same API, same results.
//
//   file_table files(64);
//   auto conn = co_await files.accept(listener.fd());        // result<fixed_fd>
//   auto n = co_await files.recv(*conn, buffer(buf));
//
// A table belongs to the shard that created it.
#pragma once

#include <couring/awaitable.hpp>
#include <couring/buffer.hpp>
#include <couring/ops.hpp>
#include <couring/splice.hpp>

#include <memory>
#include <optional>
#include <vector>

namespace couring {

struct fixed_fd {
  unsigned slot;
};

class file_table;
class registered_files;    // io/backend/backend.hpp: a ring's registration
class registered_buffers;  // the same

namespace detail {
// An op whose descriptors are slots of a table: the awaitable owns the op's slot_binding.
class [[nodiscard]] slot_awaitable : public op_awaitable<slot_awaitable> {
 public:
  slot_awaitable(const fixed_files& table, const request& r) noexcept : op_awaitable(r) {
    binding_.table = &table;
    op_.slots = &binding_;
  }
  // Settled before submission (bad arguments, zero-length transfers).
  static slot_awaitable settled(int res) noexcept { return slot_awaitable(res); }
  // The op points at the binding: a move (allowed before submission) re-points it.
  slot_awaitable(slot_awaitable&& o) noexcept : op_awaitable(std::move(o)), binding_(std::move(o.binding_)) {
    if (op_.slots) op_.slots = &binding_;
  }
  result<std::size_t> await_resume() noexcept { return make_result<result<std::size_t>>(finish()); }

 private:
  explicit slot_awaitable(int res) noexcept : op_awaitable(nop_req{}) { op_.complete_inline(res); }
  slot_binding binding_;
};

// accept/open into a slot of the table.
class [[nodiscard]] install_awaitable : public op_awaitable<install_awaitable> {
 public:
  install_awaitable(file_table& table, const request& r) noexcept;
  install_awaitable(install_awaitable&& o) noexcept;
  ~install_awaitable();
  result<fixed_fd> await_resume() noexcept;

 private:
  file_table* table_;
  int slot_;
  slot_binding binding_;
};
}  // namespace detail

class file_table {
 public:
  // `slots` descriptors (at most the process's RLIMIT_NOFILE), on the current shard.
  explicit file_table(unsigned slots);
  ~file_table();  // closes every descriptor the table holds
  file_table(const file_table&) = delete;
  file_table& operator=(const file_table&) = delete;

  unsigned size() const noexcept { return static_cast<unsigned>(files_.fds.size()); }
  bool in_kernel() const noexcept { return files_.in_kernel; }

  // Puts a duplicate of `fd` in a free slot (the caller keeps and closes its own descriptor).
  // EMFILE when every slot is taken.
  result<fixed_fd> install(int fd);
  // Empties the slot and closes what it held. Ops in flight on it finish first.
  result<void> remove(fixed_fd f);

  [[nodiscard]] detail::slot_awaitable read_at(fixed_fd f, mutable_buffer buf, std::int64_t offset) noexcept;
  [[nodiscard]] detail::slot_awaitable write_at(fixed_fd f, const_buffer buf, std::int64_t offset) noexcept;
  [[nodiscard]] detail::slot_awaitable recv(fixed_fd f, mutable_buffer buf, int flags = 0) noexcept;
  [[nodiscard]] detail::slot_awaitable send(fixed_fd f, const_buffer buf, int flags = 0) noexcept;
  // splice(2) and tee(2) between two slots (<couring/splice.hpp> says which side must be a pipe).
  [[nodiscard]] detail::slot_awaitable splice(fixed_fd in, std::int64_t off_in, fixed_fd out, std::int64_t off_out,
                                              std::size_t len, unsigned flags = SPLICE_F_MOVE) noexcept;
  [[nodiscard]] detail::slot_awaitable tee(fixed_fd in, fixed_fd out, std::size_t len, unsigned flags = 0) noexcept;

  // A new connection / an opened file, straight into a free slot.
  [[nodiscard]] detail::install_awaitable accept(int listener_fd) noexcept;
  [[nodiscard]] detail::install_awaitable open(const char* path, int flags, mode_t mode = 0644) noexcept;

 private:
  friend class detail::install_awaitable;
  int reserve() noexcept;
  void unreserve(int slot) noexcept;
  void adopt(int slot, int fd) noexcept;

  fixed_files files_;
  std::vector<bool> used_;
  std::unique_ptr<registered_files> kernel_;
};

// Buffers registered with the ring (IORING_REGISTER_BUFFERS): their pages are pinned once
// instead of on every op. Elsewhere (or if registration is refused, e.g. under RLIMIT_MEMLOCK,
// reported once) the same calls are ordinary reads and writes into the same buffers.
class fixed_buffers {
 public:
  explicit fixed_buffers(std::vector<mutable_buffer> buffers);
  ~fixed_buffers();
  fixed_buffers(const fixed_buffers&) = delete;
  fixed_buffers& operator=(const fixed_buffers&) = delete;

  bool in_kernel() const noexcept { return kernel_ != nullptr; }
  std::size_t count() const noexcept { return buffers_.size(); }
  mutable_buffer buffer(unsigned index) const noexcept { return buffers_[index]; }

  // Reads into / writes from buffer `index` (its first `len` bytes; all of it by default).
  [[nodiscard]] size_awaitable read_at(int fd, unsigned index, std::int64_t offset, std::size_t len = ~std::size_t{0}) noexcept;
  [[nodiscard]] size_awaitable write_at(int fd, unsigned index, std::int64_t offset, std::size_t len = ~std::size_t{0}) noexcept;

 private:
  std::vector<mutable_buffer> buffers_;
  std::unique_ptr<registered_buffers> kernel_;
};

}  // namespace couring
