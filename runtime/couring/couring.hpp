// Everything a program needs, in one include.
#pragma once

#include <couring/accept_stream.hpp>
#include <couring/async_event.hpp>
#include <couring/async_mutex.hpp>
#include <couring/async_semaphore.hpp>
#include <couring/buffer_pool.hpp>
#include <couring/chain.hpp>
#include <couring/channel.hpp>
#include <couring/config.hpp>
#include <couring/current_token.hpp>
#include <couring/endpoint.hpp>
#include <couring/errors.hpp>
#include <couring/file.hpp>
#include <couring/file_table.hpp>
#include <couring/offload.hpp>
#include <couring/on_shard.hpp>
#include <couring/lock.hpp>
#include <couring/ops.hpp>
#include <couring/priority.hpp>
#include <couring/process.hpp>
#include <couring/recv_stream.hpp>
#include <couring/result.hpp>
#include <couring/runtime.hpp>
#include <couring/signal.hpp>
#include <couring/socket.hpp>
#include <couring/spawn.hpp>
#include <couring/splice.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>
#include <couring/task_group.hpp>
#include <couring/transfer.hpp>
#include <couring/unique_fd.hpp>
#include <couring/version.hpp>
#include <couring/when_all.hpp>
#include <couring/when_any.hpp>
#include <couring/yield.hpp>

#include <couring/detail/build_config.hpp>
#if COURING_HAVE_FIBERS  // a build without Boost.Context has no fibers (meson option `fibers`)
#include <couring/blocking.hpp>
#include <couring/fiber.hpp>
#endif
