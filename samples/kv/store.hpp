// One shard's part of the key space: a hash map of strings with optional expiry times. It is
// touched only by its shard's thread (commands for its keys are sent there, see commands.cpp),
// so it has no lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kv {

// Milliseconds on the monotonic clock: expiry must not jump with the wall clock.
std::int64_t now_ms();

class store {
 public:
  struct entry {
    std::string value;
    std::int64_t expires_at = 0;  // now_ms() time; 0: never
  };

  // The live entry for `key`, or nullptr. An expired entry found here is removed (lazy expiry).
  entry* find(std::string_view key);
  entry& set(std::string_view key, std::string_view value, std::int64_t expires_at);
  bool erase(std::string_view key);
  // Live keys only: expired ones are dropped first.
  std::size_t size();
  void clear() { map_.clear(); }
  // Active expiry: removes every expired entry (run periodically, so keys nobody reads again
  // do not stay in memory for ever).
  void remove_expired();

 private:
  // Transparent hashing: look up with a string_view into the connection's buffer, no copy.
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, entry, hash, std::equal_to<>> map_;
};

}  // namespace kv
