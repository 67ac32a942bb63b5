// request_list<...>: a family of request kinds, declared in the family's own header; request.hpp
// joins the families into the `request` variant. Not API.
#pragma once

#include <couring/detail/request_description.hpp>

#include <variant>

namespace couring {

template <class... R>
struct request_list {};

namespace detail {
template <class... Lists>
struct join_requests;
template <class... R>
struct join_requests<request_list<R...>> {
  using variant = std::variant<R...>;
};
template <class... A, class... B, class... Rest>
struct join_requests<request_list<A...>, request_list<B...>, Rest...> {
  using variant = typename join_requests<request_list<A..., B...>, Rest...>::variant;
};
}  // namespace detail

}  // namespace couring
