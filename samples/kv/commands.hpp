// The commands: what each does to the key space and what it answers.
//
// Keys are partitioned over the shards by hash. A command runs on the connection's shard; the
// part that touches a key runs on the shard that owns the key (on_shard), so every store is only
// ever used by its own thread and no lock exists anywhere. With one shard (the default) every
// key is local and nothing is sent anywhere.
#pragma once

#include "store.hpp"

#include <couring/task.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace kv {

struct keyspace {
  std::vector<store>* shards;  // shards[k] belongs to shard k's thread
};

// Runs one command (args[0] is its name, any case) and appends the reply to `out`. Yields false
// when the connection must close afterwards (QUIT).
couring::task<bool> execute(const std::vector<std::string_view>& args, std::string& out, keyspace ks);

}  // namespace kv
