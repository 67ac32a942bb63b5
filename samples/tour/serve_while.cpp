#include "serve_while.hpp"

#include <couring/couring.hpp>

#include <stdexcept>
#include <utility>

namespace tour {
namespace {

couring::task<void> on_last_shard(couring::task<void> server) {
  co_await couring::submit_to(couring::shard_count() - 1, std::move(server));
}

}  // namespace

couring::task<void> serve_while(couring::task<void> server, couring::task<void> load,
                                clock_type::time_point give_up) {
  auto first =
      co_await couring::when_any(on_last_shard(std::move(server)), std::move(load), couring::sleep_until(give_up));
  if (first.index == 0) throw std::runtime_error("the server stopped while its load was running");
  if (first.index == 2) throw std::runtime_error("the load did not finish in time: a stalled connection");
}

}  // namespace tour
