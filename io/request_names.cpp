#include <couring/request.hpp>

#include <array>

namespace couring {
namespace {

template <class T> constexpr const char* name_of = nullptr;
template <> constexpr const char* name_of<nop_req> = "nop";
template <> constexpr const char* name_of<read_req> = "read";
template <> constexpr const char* name_of<write_req> = "write";
template <> constexpr const char* name_of<readv_req> = "readv";
template <> constexpr const char* name_of<writev_req> = "writev";
template <> constexpr const char* name_of<openat_req> = "openat";
template <> constexpr const char* name_of<close_req> = "close";
template <> constexpr const char* name_of<statx_req> = "statx";
template <> constexpr const char* name_of<fsync_req> = "fsync";
template <> constexpr const char* name_of<fallocate_req> = "fallocate";
template <> constexpr const char* name_of<ftruncate_req> = "ftruncate";
template <> constexpr const char* name_of<unlinkat_req> = "unlinkat";
template <> constexpr const char* name_of<renameat_req> = "renameat";
template <> constexpr const char* name_of<mkdirat_req> = "mkdirat";
template <> constexpr const char* name_of<timeout_req> = "timeout";
template <> constexpr const char* name_of<socket_req> = "socket";
template <> constexpr const char* name_of<accept_req> = "accept";
template <> constexpr const char* name_of<connect_req> = "connect";
template <> constexpr const char* name_of<recv_req> = "recv";
template <> constexpr const char* name_of<send_req> = "send";
template <> constexpr const char* name_of<shutdown_req> = "shutdown";
template <> constexpr const char* name_of<poll_req> = "poll";
template <> constexpr const char* name_of<flock_req> = "flock";
template <> constexpr const char* name_of<call_req> = "offload";
template <> constexpr const char* name_of<splice_req> = "splice";
template <> constexpr const char* name_of<tee_req> = "tee";
template <> constexpr const char* name_of<accept_multishot_req> = "accept_multishot";
template <> constexpr const char* name_of<recv_multishot_req> = "recv_multishot";
template <> constexpr const char* name_of<send_zc_req> = "send_zc";
template <> constexpr const char* name_of<read_fixed_req> = "read_fixed";
template <> constexpr const char* name_of<write_fixed_req> = "write_fixed";

template <std::size_t... I>
constexpr auto make_names(std::index_sequence<I...>) {
  // A request added without a name here fails to compile (static_assert below).
  return std::array<const char*, sizeof...(I)>{name_of<std::variant_alternative_t<I, request>>...};
}
constexpr auto names = make_names(std::make_index_sequence<request_kinds>{});

constexpr bool all_named() {
  for (const char* n : names)
    if (!n) return false;
  return true;
}
static_assert(all_named(), "every request alternative needs a name in request_names.cpp");

}  // namespace

const char* request_name(std::size_t index) noexcept { return index < names.size() ? names[index] : "?"; }

}  // namespace couring
