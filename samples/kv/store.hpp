// One shard's part of the key space: a hash map of strings with optional expiry times. It is
// touched only by its shard's thread (commands for its keys are sent there, see commands.cpp),
// so it has no lock.
//
// Expiry is lazy (an expired key found by a lookup is removed then) and active, the way Redis
// does it: ten times a second a few keys that have a time to live are sampled at random and the
// expired ones removed, again while many of the sample were expired, within a time budget. So a
// million keys cost the loop nothing while none expires, and keys nobody reads again still go.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kv {

// Milliseconds on the monotonic clock: expiry must not jump with the wall clock.
std::int64_t now_ms();

class store {
 public:
  struct entry {
    std::string value;
    std::int64_t expires_at = 0;  // now_ms() time; 0: never. Changed only through the store.
    std::size_t sampled_at = 0;   // its place in volatile_, for the keys that have a time to live
  };

  // The live entry for `key`, or nullptr. An expired entry found here is removed (lazy expiry).
  entry* find(std::string_view key);
  entry& set(std::string_view key, std::string_view value, std::int64_t expires_at);
  // Gives the live key a new expiry time (0: never); false if there is no such key.
  bool expire(std::string_view key, std::int64_t expires_at);
  bool erase(std::string_view key);
  // Every key held, as Redis's DBSIZE counts: an expired key not yet removed still counts.
  std::size_t size() const { return map_.size(); }
  void clear();
  // Active expiry, one round: samples keys that have a time to live, removes the expired ones,
  // and samples again while at least a quarter of a sample was expired, for at most `budget`.
  void remove_some_expired(std::chrono::microseconds budget);

 private:
  // Transparent hashing: look up with a string_view into the connection's buffer, no copy.
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using map_type = std::unordered_map<std::string, entry, hash, std::equal_to<>>;
  map_type::iterator find_live(std::string_view key);
  void set_expiry(map_type::value_type& node, std::int64_t expires_at);
  void forget_expiry(entry& e);
  void erase(map_type::iterator it);

  map_type map_;
  // The entries that have a time to live, for sampling in O(1). Pointers into map_'s nodes stay
  // valid across rehashing; an entry leaves this vector before it leaves the map.
  std::vector<map_type::value_type*> volatile_;
  std::minstd_rand random_;
};

}  // namespace kv
