#include "io/backend/backend.hpp"
#include "sched/base/log.hpp"

#include <couring/file_table.hpp>

#include <fmt/core.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

namespace couring {
namespace {

void report_once(std::once_flag& once, const char* what, const std::error_code& why) {
  std::call_once(once, [&] { detail::log_notice(fmt::format("{} unavailable ({}); using unregistered ops", what, why.message())); });
}

std::once_flag files_refused;
std::once_flag buffers_refused;

}  // namespace

// ---- file_table ----------------------------------------------------------------------------------

file_table::file_table(unsigned slots) {
  files_.fds.assign(slots, -1);
  used_.assign(slots, false);
  backend* io = backend::current();
  if (!io || slots == 0) return;
  auto registered = io->register_files(slots);
  if (registered) {
    kernel_ = std::move(*registered);
    files_.in_kernel = true;
  } else if (registered.error() != std::errc::operation_not_supported) {
    report_once(files_refused, "registered files", registered.error());
  }
}

file_table::~file_table() {
  for (int fd : files_.fds)
    if (fd >= 0) ::close(fd);
}

int file_table::reserve() noexcept {
  auto free = std::find(used_.begin(), used_.end(), false);
  if (free == used_.end()) return -1;
  *free = true;
  return static_cast<int>(free - used_.begin());
}

void file_table::unreserve(int slot) noexcept { used_[static_cast<std::size_t>(slot)] = false; }

void file_table::adopt(int slot, int fd) noexcept {
  files_.fds[static_cast<std::size_t>(slot)] = fd;
  // The ring gets its own reference too, so that native ops can name the slot.
  if (kernel_ && fd >= 0) (void)kernel_->update(static_cast<unsigned>(slot), fd);
}

result<fixed_fd> file_table::install(int fd) {
  if (fd < 0) return std::errc::bad_file_descriptor;
  int slot = reserve();
  if (slot < 0) return std::errc::too_many_files_open;
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    unreserve(slot);
    return std::error_code(errno, std::system_category());
  }
  adopt(slot, copy);
  return fixed_fd{static_cast<unsigned>(slot)};
}

result<void> file_table::remove(fixed_fd f) {
  if (f.slot >= used_.size() || !used_[f.slot]) return std::errc::bad_file_descriptor;
  if (kernel_) (void)kernel_->update(f.slot, -1);
  if (files_.fds[f.slot] >= 0) ::close(files_.fds[f.slot]);
  files_.fds[f.slot] = -1;
  unreserve(static_cast<int>(f.slot));
  return {};
}

detail::slot_awaitable file_table::read_at(fixed_fd f, mutable_buffer buf, std::int64_t offset) noexcept {
  if (offset < 0) return detail::slot_awaitable::settled(-EINVAL);
  if (buf.empty()) return detail::slot_awaitable::settled(0);
  return {files_, read_req{static_cast<int>(f.slot), buf.data(), detail::clamp_transfer(buf.size()), offset}};
}

detail::slot_awaitable file_table::write_at(fixed_fd f, const_buffer buf, std::int64_t offset) noexcept {
  if (offset < 0) return detail::slot_awaitable::settled(-EINVAL);
  if (buf.empty()) return detail::slot_awaitable::settled(0);
  return {files_, write_req{static_cast<int>(f.slot), buf.data(), detail::clamp_transfer(buf.size()), offset}};
}

detail::slot_awaitable file_table::recv(fixed_fd f, mutable_buffer buf, int flags) noexcept {
  if (buf.empty()) return detail::slot_awaitable::settled(0);
  return {files_, recv_req{static_cast<int>(f.slot), buf.data(), detail::clamp_transfer(buf.size()), flags}};
}

detail::slot_awaitable file_table::send(fixed_fd f, const_buffer buf, int flags) noexcept {
  if (buf.empty()) return detail::slot_awaitable::settled(0);
  return {files_, send_req{static_cast<int>(f.slot), buf.data(), detail::clamp_transfer(buf.size()),
                           flags | detail::send_flags_always}};
}

detail::slot_awaitable file_table::splice(fixed_fd in, std::int64_t off_in, fixed_fd out, std::int64_t off_out,
                                          std::size_t len, unsigned flags) noexcept {
  if (off_in < current_position || off_out < current_position) return detail::slot_awaitable::settled(-EINVAL);
  if (len == 0) return detail::slot_awaitable::settled(0);
  return {files_, splice_req{static_cast<int>(in.slot), off_in, static_cast<int>(out.slot), off_out,
                             detail::clamp_transfer(len), flags}};
}

detail::slot_awaitable file_table::tee(fixed_fd in, fixed_fd out, std::size_t len, unsigned flags) noexcept {
  if (len == 0) return detail::slot_awaitable::settled(0);
  return {files_, tee_req{static_cast<int>(in.slot), static_cast<int>(out.slot), detail::clamp_transfer(len), flags}};
}

detail::install_awaitable file_table::accept(int listener_fd) noexcept {
  return detail::install_awaitable(*this, accept_req{listener_fd, nullptr, nullptr, SOCK_CLOEXEC});
}

detail::install_awaitable file_table::open(const char* path, int flags, mode_t mode) noexcept {
  return detail::install_awaitable(*this, openat_req{AT_FDCWD, path, flags | O_CLOEXEC, mode});
}

// ---- install_awaitable ---------------------------------------------------------------------------

namespace detail {

install_awaitable::install_awaitable(file_table& table, const request& r) noexcept
    : op_awaitable(r), table_(&table), slot_(table.reserve()) {
  if (slot_ < 0) {
    op_.complete_inline(-EMFILE);  // no free slot
    return;
  }
  binding_.install_into = &table.files_;
  binding_.install_slot = slot_;
  op_.slots = &binding_;
}

install_awaitable::install_awaitable(install_awaitable&& o) noexcept
    : op_awaitable(std::move(o)), table_(o.table_), slot_(std::exchange(o.slot_, -1)), binding_(std::move(o.binding_)) {
  if (op_.slots) op_.slots = &binding_;
}

install_awaitable::~install_awaitable() {
  if (slot_ >= 0) table_->unreserve(slot_);  // never awaited, or it failed
}

result<fixed_fd> install_awaitable::await_resume() noexcept {
  int r = finish();
  if (r < 0) return error_from_res(r);  // the destructor frees the slot
  int slot = std::exchange(slot_, -1);
  // A direct install (the backend kept install_slot) leaves no descriptor in the process; an
  // ordinary accept/open returned one, which the table now owns.
  if (binding_.install_slot < 0) table_->adopt(slot, r);
  return fixed_fd{static_cast<unsigned>(slot)};
}

}  // namespace detail

// ---- fixed_buffers -------------------------------------------------------------------------------

fixed_buffers::fixed_buffers(std::vector<mutable_buffer> buffers) : buffers_(std::move(buffers)) {
  backend* io = backend::current();
  if (!io || buffers_.empty() || buffers_.size() > 16384) return;
  std::vector<iovec> iov;
  iov.reserve(buffers_.size());
  for (auto b : buffers_) iov.push_back({b.data(), b.size()});
  auto registered = io->register_buffers(iov.data(), static_cast<unsigned>(iov.size()));
  if (registered) kernel_ = std::move(*registered);
  else if (registered.error() != std::errc::operation_not_supported) report_once(buffers_refused, "registered buffers", registered.error());
}

fixed_buffers::~fixed_buffers() = default;

size_awaitable fixed_buffers::read_at(int fd, unsigned index, std::int64_t offset, std::size_t len) noexcept {
  if (index >= buffers_.size()) return size_awaitable::settled(-EINVAL);
  mutable_buffer b = buffers_[index].first(std::min(len, buffers_[index].size()));
  if (!kernel_) return couring::read_at(fd, b, offset);
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (offset < 0) return size_awaitable::settled(-EINVAL);
  if (b.empty()) return size_awaitable::settled(0);
  return size_awaitable(read_fixed_req{fd, b.data(), detail::clamp_transfer(b.size()), offset, static_cast<std::uint16_t>(index)});
}

size_awaitable fixed_buffers::write_at(int fd, unsigned index, std::int64_t offset, std::size_t len) noexcept {
  if (index >= buffers_.size()) return size_awaitable::settled(-EINVAL);
  mutable_buffer b = buffers_[index].first(std::min(len, buffers_[index].size()));
  if (!kernel_) return couring::write_at(fd, b, offset);
  if (fd < 0) return size_awaitable::settled(-EBADF);
  if (offset < 0) return size_awaitable::settled(-EINVAL);
  if (b.empty()) return size_awaitable::settled(0);
  return size_awaitable(write_fixed_req{fd, b.data(), detail::clamp_transfer(b.size()), offset, static_cast<std::uint16_t>(index)});
}

}  // namespace couring
