// when_any: runs several awaitables (tasks or ops) concurrently; the first to finish wins. The
// others are cancelled *and awaited* before when_any returns, so no loser is left running and no
// buffer of theirs is touched afterwards.
//
//   auto r = co_await when_any(sigs.wait(), sock.recv(buf), child.wait(), sleep_for(5s));
//   switch (r.index) { ... std::get<1>(r.value) ... }
//
// If the winner threw, its exception is rethrown. Losers finish by being cancelled: what they
// produce (usually operation_canceled, sometimes a value that raced the cancellation; anything
// that owns an fd closes it) is dropped, including exceptions. The arguments are held by
// reference: await it in the expression that creates it.
#pragma once

#include <couring/current_token.hpp>
#include <couring/join.hpp>
#include <couring/task.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace couring {

template <class... T>
struct when_any_result {
  std::size_t index;         // which argument finished first
  std::variant<T...> value;  // its result, at that index (void results are std::monostate)
};

template <class T>
struct when_any_range_result {
  std::size_t index;
  T value;
};

namespace detail {

template <class Result, class Children, std::size_t... I>
Result take_winner(Children& children, std::size_t winner, std::index_sequence<I...>) {
  std::exception_ptr error;
  std::optional<Result> out;
  auto take = [&](auto index_constant, auto& child) {
    constexpr std::size_t i = decltype(index_constant)::value;
    if (i != winner) return;
    if (child.promise().error) error = child.promise().error;
    else out.emplace(Result{i, decltype(Result::value)(std::in_place_index<i>, std::move(*child.promise().value))});
  };
  (take(std::integral_constant<std::size_t, I>{}, std::get<I>(children)), ...);
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

}  // namespace detail

template <class... A>
  requires(detail::awaitable<A> && ...)
task<when_any_result<awaited_t<A>...>> when_any(A&&... awaitables) {
  static_assert(sizeof...(A) > 0, "when_any needs at least one awaitable");
  detail::join_state join(sizeof...(A), /*first_finisher_wins=*/true);
  stop_token parent = co_await current_stop_token();
  stop_callback<detail::forward_stop> link(parent, detail::forward_stop{&join.stop});
  std::tuple<detail::join_child<awaited_t<A>>...> children{detail::make_join_child(std::forward<A>(awaitables))...};
  co_await detail::join_awaitable(join, [&children](detail::join_state& j) {
    std::size_t i = 0;
    std::apply([&](auto&... c) { (c.start(j, i++), ...); }, children);
  });
  co_return detail::take_winner<when_any_result<awaited_t<A>...>>(children, join.winner,
                                                                    std::index_sequence_for<A...>{});
}

// Over a range of tasks. An empty range is a programming error (there is no first to finish).
template <class T>
task<when_any_range_result<awaited_t<task<T>>>> when_any(std::vector<task<T>> tasks) {
  if (tasks.empty()) throw std::invalid_argument("when_any of an empty range");
  detail::join_state join(tasks.size(), /*first_finisher_wins=*/true);
  stop_token parent = co_await current_stop_token();
  stop_callback<detail::forward_stop> link(parent, detail::forward_stop{&join.stop});
  std::vector<detail::join_child<awaited_t<task<T>>>> children;
  children.reserve(tasks.size());
  for (auto& t : tasks) children.push_back(detail::make_join_child(std::move(t)));
  co_await detail::join_awaitable(join, [&children](detail::join_state& j) {
    for (std::size_t i = 0; i < children.size(); ++i) children[i].start(j, i);
  });
  auto& winner = children[join.winner].promise();
  if (winner.error) std::rethrow_exception(winner.error);
  co_return when_any_range_result<awaited_t<task<T>>>{join.winner, std::move(*winner.value)};
}

}  // namespace couring
