// when_all: runs several awaitables (tasks or ops) concurrently and yields all their results.
//
//   auto [a, b] = co_await when_all(read_at(fd, buf1, 0), read_at(fd, buf2, 4096));
//
// The children observe a stop token chained to the caller's. If a child throws, the others are
// cancelled, every child is awaited, and the first exception is rethrown; error *results*
// (result<T> holding an error_code) are values like any other and cancel nothing. Await it in the
// expression that creates it: the arguments are held by reference.
#pragma once

#include <couring/current_token.hpp>
#include <couring/join.hpp>
#include <couring/task.hpp>

#include <exception>
#include <tuple>
#include <utility>
#include <vector>

namespace couring {

template <class... A>
  requires(detail::awaitable<A> && ...)
task<std::tuple<awaited_t<A>...>> when_all(A&&... awaitables) {
  detail::join_state join(sizeof...(A), /*first_finisher_wins=*/false);
  stop_token parent = co_await current_stop_token();
  stop_callback<detail::forward_stop> link(parent, detail::forward_stop{&join.stop});
  std::tuple<detail::join_child<awaited_t<A>>...> children{detail::make_join_child(std::forward<A>(awaitables))...};
  co_await detail::join_awaitable(join, [&children](detail::join_state& j) {
    std::size_t i = 0;
    std::apply([&](auto&... c) { (c.start(j, i++), ...); }, children);
  });
  std::exception_ptr first;
  std::size_t i = 0;
  std::apply([&](auto&... c) { ((first = i++ == join.winner ? c.promise().error : first), ...); }, children);
  if (first) std::rethrow_exception(first);
  co_return std::apply([](auto&... c) { return std::tuple<awaited_t<A>...>{std::move(*c.promise().value)...}; }, children);
}

// Over a range of tasks: the results in the tasks' order.
template <class T>
task<std::vector<awaited_t<task<T>>>> when_all(std::vector<task<T>> tasks) {
  detail::join_state join(tasks.size(), /*first_finisher_wins=*/false);
  stop_token parent = co_await current_stop_token();
  stop_callback<detail::forward_stop> link(parent, detail::forward_stop{&join.stop});
  std::vector<detail::join_child<awaited_t<task<T>>>> children;
  children.reserve(tasks.size());
  for (auto& t : tasks) children.push_back(detail::make_join_child(std::move(t)));
  co_await detail::join_awaitable(join, [&children](detail::join_state& j) {
    for (std::size_t i = 0; i < children.size(); ++i) children[i].start(j, i);
  });
  if (join.winner != detail::join_state::none) std::rethrow_exception(children[join.winner].promise().error);
  std::vector<awaited_t<task<T>>> results;
  results.reserve(children.size());
  for (auto& c : children) results.push_back(std::move(*c.promise().value));
  co_return results;
}

}  // namespace couring
