#include "store.hpp"

namespace kv {
namespace {

constexpr std::size_t sample_size = 20;  // Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP

}  // namespace

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

store::map_type::iterator store::find_live(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end() || it->second.expires_at == 0 || it->second.expires_at > now_ms()) return it;
  erase(it);
  return map_.end();
}

store::entry* store::find(std::string_view key) {
  auto it = find_live(key);
  return it == map_.end() ? nullptr : &it->second;
}

store::entry& store::set(std::string_view key, std::string_view value, std::int64_t expires_at) {
  auto it = map_.find(key);
  if (it == map_.end()) it = map_.emplace(std::string(key), entry{}).first;
  it->second.value.assign(value);
  set_expiry(*it, expires_at);
  return it->second;
}

bool store::expire(std::string_view key, std::int64_t expires_at) {
  auto it = find_live(key);
  if (it == map_.end()) return false;
  set_expiry(*it, expires_at);
  return true;
}

void store::set_expiry(map_type::value_type& node, std::int64_t expires_at) {
  entry& e = node.second;
  if (expires_at != 0 && e.expires_at == 0) {
    e.sampled_at = volatile_.size();
    volatile_.push_back(&node);
  } else if (expires_at == 0 && e.expires_at != 0) {
    forget_expiry(e);
  }
  e.expires_at = expires_at;
}

void store::forget_expiry(entry& e) {
  // Swap with the last, so that removal is O(1).
  map_type::value_type* last = volatile_.back();
  volatile_[e.sampled_at] = last;
  last->second.sampled_at = e.sampled_at;
  volatile_.pop_back();
}

void store::erase(map_type::iterator it) {
  if (it->second.expires_at != 0) forget_expiry(it->second);
  map_.erase(it);
}

bool store::erase(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  bool live = it->second.expires_at == 0 || it->second.expires_at > now_ms();
  erase(it);
  return live;
}

void store::clear() {
  volatile_.clear();
  map_.clear();
}

void store::remove_some_expired(std::chrono::microseconds budget) {
  auto until = std::chrono::steady_clock::now() + budget;
  for (;;) {
    std::int64_t now = now_ms();
    std::size_t sampled = 0, expired = 0;
    for (; sampled < sample_size && !volatile_.empty(); ++sampled) {
      map_type::value_type* node = volatile_[random_() % volatile_.size()];
      if (node->second.expires_at > now) continue;
      erase(map_.find(node->first));
      ++expired;
    }
    if (expired * 4 < sample_size || std::chrono::steady_clock::now() >= until) return;
  }
}

}  // namespace kv
