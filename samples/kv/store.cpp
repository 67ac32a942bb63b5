#include "store.hpp"

#include <chrono>

namespace kv {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

store::entry* store::find(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  if (it->second.expires_at != 0 && it->second.expires_at <= now_ms()) {
    map_.erase(it);
    return nullptr;
  }
  return &it->second;
}

store::entry& store::set(std::string_view key, std::string_view value, std::int64_t expires_at) {
  auto it = map_.find(key);
  if (it == map_.end()) it = map_.emplace(std::string(key), entry{}).first;
  it->second.value.assign(value);
  it->second.expires_at = expires_at;
  return it->second;
}

bool store::erase(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  bool live = it->second.expires_at == 0 || it->second.expires_at > now_ms();
  map_.erase(it);
  return live;
}

std::size_t store::size() {
  remove_expired();
  return map_.size();
}

void store::remove_expired() {
  std::int64_t now = now_ms();
  std::erase_if(map_, [now](const auto& kv) { return kv.second.expires_at != 0 && kv.second.expires_at <= now; });
}

}  // namespace kv
