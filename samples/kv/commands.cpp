#include "commands.hpp"

#include "resp.hpp"

#include <couring/on_shard.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <limits>
#include <optional>

namespace kv {
namespace {

using couring::task;

bool iequals(std::string_view a, std::string_view b) {
  auto up = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return up(x) == up(y); });
}

std::optional<std::int64_t> to_integer(std::string_view s) {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return n;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

// Runs fn(store) on shard k's thread and yields its reply string here. The caller stays
// suspended meanwhile, so fn may read the command's arguments (views into the caller's buffer).
template <class F>
task<std::string> at_shard(keyspace ks, unsigned k, F fn) {
  if (k == couring::this_shard()) co_return fn((*ks.shards)[k]);
  co_return co_await couring::on_shard(k, [&] { return fn((*ks.shards)[k]); });
}

unsigned owner_of(std::string_view key) {
  return static_cast<unsigned>(std::hash<std::string_view>{}(key) % couring::shard_count());
}

template <class F>
task<std::string> at_owner(keyspace ks, std::string_view key, F fn) {
  co_return co_await at_shard(ks, owner_of(key), std::move(fn));
}

// ---- the commands that touch one key; each runs on the key's owner -----------------------------

std::string get(store& s, std::string_view key) {
  std::string r;
  if (auto* e = s.find(key)) resp::bulk(r, e->value);
  else resp::nil(r);
  return r;
}

struct set_options {
  std::int64_t expires_at = 0;
  bool nx = false, xx = false, keep_ttl = false, get = false;
};

std::string set(store& s, std::string_view key, std::string_view value, const set_options& o) {
  std::string r;
  store::entry* old = s.find(key);
  if (o.get) {  // SET ... GET answers with the old value (or nil), whether or not it then sets
    if (old) resp::bulk(r, old->value);
    else resp::nil(r);
  }
  if ((o.nx && old) || (o.xx && !old)) {
    if (!o.get) resp::nil(r);
    return r;
  }
  std::int64_t expires_at = o.keep_ttl && old ? old->expires_at : o.expires_at;
  s.set(key, value, expires_at);
  if (!o.get) resp::simple(r, "OK");
  return r;
}

std::string add_to(store& s, std::string_view key, std::int64_t by) {
  std::string r;
  store::entry* e = s.find(key);
  std::int64_t n = 0;
  if (e) {
    auto v = to_integer(e->value);
    if (!v) {
      resp::error(r, "ERR value is not an integer or out of range");
      return r;
    }
    n = *v;
  }
  if ((by > 0 && n > std::numeric_limits<std::int64_t>::max() - by) ||
      (by < 0 && n < std::numeric_limits<std::int64_t>::min() - by)) {
    resp::error(r, "ERR increment or decrement would overflow");
    return r;
  }
  n += by;
  if (e) e->value = std::to_string(n);  // INCR keeps the key's time to live
  else s.set(key, std::to_string(n), 0);
  resp::integer(r, n);
  return r;
}

std::string expire(store& s, std::string_view key, std::int64_t at) {
  std::string r;
  if (at <= now_ms()) resp::integer(r, s.erase(key) ? 1 : 0);  // a time in the past deletes the key
  else resp::integer(r, s.expire(key, at) ? 1 : 0);
  return r;
}

std::string ttl(store& s, std::string_view key, bool in_ms) {
  std::string r;
  store::entry* e = s.find(key);
  if (!e) resp::integer(r, -2);
  else if (e->expires_at == 0) resp::integer(r, -1);
  else {
    std::int64_t left = e->expires_at - now_ms();
    resp::integer(r, in_ms ? left : (left + 500) / 1000);
  }
  return r;
}

// ---- parsing arguments ------------------------------------------------------------------------------

// The now_ms() time `amount` units of `unit_ms` from now, or nullopt where that does not fit in
// 64 bits: Redis answers "invalid expire time" there rather than let the time wrap into the past
// (which would delete the key) or far into the future.
std::optional<std::int64_t> deadline_after(std::int64_t amount, std::int64_t unit_ms) {
  std::int64_t ms = 0, at = 0;
  if (__builtin_mul_overflow(amount, unit_ms, &ms) || __builtin_add_overflow(now_ms(), ms, &at)) return std::nullopt;
  return at;
}

// SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]; an error message or nullopt.
std::optional<std::string> parse_set(const std::vector<std::string_view>& args, set_options& o) {
  bool has_expiry = false;
  for (std::size_t i = 3; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (iequals(a, "NX") && !o.xx) o.nx = true;
    else if (iequals(a, "XX") && !o.nx) o.xx = true;
    else if (iequals(a, "GET")) o.get = true;
    else if (iequals(a, "KEEPTTL") && !has_expiry) o.keep_ttl = true;
    else if ((iequals(a, "EX") || iequals(a, "PX")) && !has_expiry && !o.keep_ttl && i + 1 < args.size()) {
      auto n = to_integer(args[++i]);
      if (!n) return "ERR value is not an integer or out of range";
      auto at = deadline_after(*n, iequals(a, "EX") ? 1000 : 1);
      if (*n <= 0 || !at) return "ERR invalid expire time in 'set' command";
      o.expires_at = *at;
      has_expiry = true;
    } else {
      return "ERR syntax error";
    }
  }
  return std::nullopt;
}

void wrong_arity(std::string& out, std::string_view name) {
  resp::error(out, fmt::format("ERR wrong number of arguments for '{}' command", lower(name)));
}

constexpr std::size_t command_count = 20;  // what COMMAND COUNT says: the names execute() knows

}  // namespace

task<bool> execute(const std::vector<std::string_view>& args, std::string& out, keyspace ks) {
  std::string_view name = args[0];
  std::size_t argc = args.size();
  auto is = [&](std::string_view n) { return iequals(name, n); };

  if (is("PING")) {
    if (argc == 1) resp::simple(out, "PONG");
    else if (argc == 2) resp::bulk(out, args[1]);
    else wrong_arity(out, name);
  } else if (is("ECHO")) {
    if (argc == 2) resp::bulk(out, args[1]);
    else wrong_arity(out, name);
  } else if (is("QUIT")) {
    resp::simple(out, "OK");
    co_return false;
  } else if (is("GET")) {
    if (argc != 2) wrong_arity(out, name);
    else {
      auto r = co_await at_owner(ks, args[1], [&](store& s) { return get(s, args[1]); });
      out += r;
    }
  } else if (is("SET")) {
    set_options o;
    if (argc < 3) wrong_arity(out, name);
    else if (auto bad = parse_set(args, o)) resp::error(out, *bad);
    else {
      auto r = co_await at_owner(ks, args[1], [&](store& s) { return set(s, args[1], args[2], o); });
      out += r;
    }
  } else if (is("DEL") || is("EXISTS")) {
    if (argc < 2) wrong_arity(out, name);
    else {
      bool del = is("DEL");
      std::int64_t n = 0;
      for (std::size_t i = 1; i < argc; ++i) {  // keys may live on different shards: one at a time
        auto r = co_await at_owner(ks, args[i], [&](store& s) {
          bool hit = del ? s.erase(args[i]) : s.find(args[i]) != nullptr;
          return std::string(hit ? "1" : "0");
        });
        n += r == "1";
      }
      resp::integer(out, n);
    }
  } else if (is("INCR") || is("DECR") || is("INCRBY") || is("DECRBY")) {
    bool by = is("INCRBY") || is("DECRBY");
    std::optional<std::int64_t> step = 1;
    if (argc != (by ? 3u : 2u)) wrong_arity(out, name);
    else if (by && !(step = to_integer(args[2]))) resp::error(out, "ERR value is not an integer or out of range");
    else if (is("DECRBY") && *step == std::numeric_limits<std::int64_t>::min())
      resp::error(out, "ERR decrement would overflow");  // its negation does not exist
    else {
      std::int64_t delta = is("DECR") || is("DECRBY") ? -*step : *step;
      auto r = co_await at_owner(ks, args[1], [&](store& s) { return add_to(s, args[1], delta); });
      out += r;
    }
  } else if (is("EXPIRE") || is("PEXPIRE")) {
    std::optional<std::int64_t> n, at;
    if (argc != 3) wrong_arity(out, name);
    else if (!(n = to_integer(args[2]))) resp::error(out, "ERR value is not an integer or out of range");
    else if (!(at = deadline_after(*n, is("EXPIRE") ? 1000 : 1)))
      resp::error(out, fmt::format("ERR invalid expire time in '{}' command", lower(name)));
    else {
      auto r = co_await at_owner(ks, args[1], [&](store& s) { return expire(s, args[1], *at); });
      out += r;
    }
  } else if (is("TTL") || is("PTTL")) {
    if (argc != 2) wrong_arity(out, name);
    else {
      bool in_ms = is("PTTL");
      auto r = co_await at_owner(ks, args[1], [&](store& s) { return ttl(s, args[1], in_ms); });
      out += r;
    }
  } else if (is("DBSIZE") || is("FLUSHALL") || is("FLUSHDB")) {
    bool count = is("DBSIZE");
    std::int64_t total = 0;
    for (unsigned k = 0; k < couring::shard_count(); ++k) {  // every shard holds part of the keys
      auto r = co_await at_shard(ks, k, [&](store& s) {
        if (count) return std::to_string(s.size());
        s.clear();
        return std::string("0");
      });
      total += std::stoll(r);
    }
    if (count) resp::integer(out, total);
    else resp::simple(out, "OK");
  } else if (is("CONFIG")) {
    // redis-benchmark asks for "save" and "appendonly"; there is no configuration to report.
    if (argc >= 3 && iequals(args[1], "GET")) resp::array(out, 0);
    else resp::error(out, "ERR only CONFIG GET is supported");
  } else if (is("COMMAND")) {
    // Clients ask at connect time (redis-cli for hints); they manage without the details.
    if (argc >= 2 && iequals(args[1], "COUNT")) resp::integer(out, command_count);
    else resp::array(out, 0);
  } else if (is("SELECT")) {
    if (argc == 2 && args[1] == "0") resp::simple(out, "OK");
    else resp::error(out, "ERR DB index is out of range");
  } else {
    std::string shown(name.substr(0, 128));
    resp::error(out, fmt::format("ERR unknown command '{}'", shown));
  }
  co_return true;
}

}  // namespace kv
