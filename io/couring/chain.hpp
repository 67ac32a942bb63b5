// Linked chains: ops that run one after another, each only if the previous one succeeded.
//
//   auto [w, s] = co_await chain(write_at(fd, buffer(data), 0), fsync(fd));
//
// On io_uring the ops are submitted together as one IOSQE_IO_LINK chain. A member that fails (an
// error, or a short read or write) ends the chain: the members after it yield operation_canceled.
// hard_chain() links with IOSQE_IO_HARDLINK: every member runs, whatever the ones before it did.
// Where a member is not native (the thread pool, an emulated kind, a deadline) the chain runs the
// members in order itself, with the same rules. The results come back as a tuple, in order.
// Await a chain in the expression that creates it: the ops are held by reference.
#pragma once

#include <couring/awaitable.hpp>
#include <couring/current_token.hpp>
#include <couring/task.hpp>

#include <array>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace couring {
namespace detail {

// Submits the members as one linked chain and resumes when every member has completed; yields
// false (having submitted nothing) where the backend cannot link them.
template <std::size_t N>
class linked_submit final : private op_observer {
 public:
  linked_submit(std::array<op_base*, N> ops, bool hard) noexcept : ops_(ops), hard_(hard) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    waiter_ = h;
    remaining_ = N;
    for (op_base* op : ops_) op->observer = this;
    switch (detail::submit_linked(ops_.data(), N, hard_)) {
      case link_outcome::submitted:
      case link_outcome::shutting_down:  // never submitted; the frame will be destroyed
        return true;
      case link_outcome::refused:
        break;
    }
    for (op_base* op : ops_) op->observer = nullptr;  // not linkable here: as if never submitted
    linked_ = false;
    return false;
  }
  bool await_resume() const noexcept { return linked_; }

 private:
  void on_result(op_base& op) noexcept override {
    op.observer = nullptr;
    if (--remaining_ == 0) detail::resume_flat(waiter_);
  }

  std::array<op_base*, N> ops_;
  bool hard_;
  bool linked_ = true;
  std::size_t remaining_ = 0;
  std::coroutine_handle<> waiter_;
};

// co_await on a member held by reference (awaiting it directly would copy it with GCC 12); the
// member's own await_resume is called once, when the chain collects the results.
template <class A>
struct await_member {
  A* member;
  bool await_ready() const noexcept { return member->await_ready(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    return member->await_suspend(h);
  }
  void await_resume() const noexcept {}
};

template <class A>
task<bool> run_member(A& member, bool skip) {
  op_base& op = op_access::op(member);
  if (skip) {
    op.complete_inline(-ECANCELED);  // an earlier member broke the chain
    co_return true;
  }
  co_await await_member<A>{&member};
  co_return breaks_chain(op);
}

template <std::size_t I, class Tuple, class Results>
task<void> run_in_order(Tuple& members, Results& results, bool hard, bool broken) {
  if constexpr (I < std::tuple_size_v<Tuple>) {
    bool failed = co_await run_member(std::get<I>(members), broken && !hard);
    // Collected before the next member starts: some effects happen only in await_resume (a
    // file_table open or accept adopts its descriptor there, for the next member to use).
    std::get<I>(results).emplace(std::get<I>(members).await_resume());
    co_await run_in_order<I + 1>(members, results, hard, broken || failed);
  }
}

template <class... A>
task<std::tuple<decltype(std::declval<A&>().await_resume())...>> run_chain(bool hard, A&... members) {
  constexpr std::size_t n = sizeof...(A);
  std::tuple<A&...> all{members...};
  std::array<op_base*, n> ops{&op_access::op(members)...};
  stop_token token = co_await current_stop_token();
  // Members that settled before submission (bad arguments) cannot go to the kernel; nor can
  // anything once the token has fired.
  bool linkable = !token.stop_requested();
  for (op_base* op : ops) linkable = linkable && op->state == op_state::idle;
  bool linked = false;
  if (linkable) {
    (op_access::watch_token(members, &token), ...);
    linked = co_await linked_submit<n>(ops, hard);
  }
  using results = std::tuple<decltype(std::declval<A&>().await_resume())...>;
  if (linked) co_return results{members.await_resume()...};
  std::tuple<std::optional<decltype(std::declval<A&>().await_resume())>...> collected;
  co_await run_in_order<0>(all, collected, hard, false);
  co_return std::apply([](auto&... r) { return results{std::move(*r)...}; }, collected);
}

}  // namespace detail

template <class... A>
auto chain(A&&... members) {
  static_assert(sizeof...(A) > 0, "chain needs at least one op");
  return detail::run_chain(false, members...);
}

template <class... A>
auto hard_chain(A&&... members) {
  static_assert(sizeof...(A) > 0, "hard_chain needs at least one op");
  return detail::run_chain(true, members...);
}

}  // namespace couring
