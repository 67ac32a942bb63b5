// Everything a program needs, in one include.
#pragma once

#include <couring/config.hpp>
#include <couring/endpoint.hpp>
#include <couring/errors.hpp>
#include <couring/file.hpp>
#include <couring/ops.hpp>
#include <couring/priority.hpp>
#include <couring/result.hpp>
#include <couring/runtime.hpp>
#include <couring/socket.hpp>
#include <couring/spawn.hpp>
#include <couring/stop_token.hpp>
#include <couring/task.hpp>
#include <couring/transfer.hpp>
#include <couring/unique_fd.hpp>
#include <couring/yield.hpp>
