#include "auth/session_cache.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json/serialize.hpp>

namespace authd::auth {

std::string identity_block(std::string_view user, std::string_view email, std::string_view groups,
                           std::string_view id, std::string_view aal) {
  std::string block;
  const std::pair<std::string_view, std::string_view> fields[] = {
      {"Remote-User", user},  {"Remote-Email", email}, {"Remote-Groups", groups},
      {"Remote-User-Id", id}, {"Remote-AAL", aal},
  };
  for (const auto& [name, value] : fields) {
    block.append(name);
    block.append(": ");
    block.append(value);
    block.append("\r\n");
  }
  return block;
}

std::shared_ptr<const CachedSession> make_cached_session(Session session,
                                                         std::int64_t expires_epoch) {
  auto out = std::make_shared<CachedSession>();
  const User& user = session.user;
  out->expires = std::chrono::system_clock::time_point(std::chrono::seconds(expires_epoch));
  out->identity_block =
      identity_block(user.username, user.email, user.role == "admin" ? "admin,user" : "user",
                     std::to_string(user.id), session.aal);
  boost::json::object shown = user_object(user);
  shown["two_factor"] = session.two_factor;
  out->me_body = boost::json::serialize(
      boost::json::object{{"user", std::move(shown)},
                          {"session", {{"expires_at", session.expires_at}, {"aal", session.aal}}}});
  out->session = std::move(session);
  return out;
}

SessionCache::SessionCache(std::size_t capacity, std::chrono::seconds ttl)
    : capacity_(capacity), per_shard_(std::max<std::size_t>(capacity / kShards, 1)), ttl_(ttl) {}

std::shared_ptr<const CachedSession> SessionCache::find(const db::Sha256Digest& key) {
  if (!enabled() || !listening()) return nullptr;
  Shard& shard = shard_for(key);
  std::shared_ptr<const CachedSession> found;
  {
    const std::lock_guard lock(shard.mutex);
    const auto it = shard.entries.find(key);
    if (it != shard.entries.end()) {
      if (std::chrono::steady_clock::now() < it->second.trusted_until &&
          std::chrono::system_clock::now() < it->second.session->expires) {
        found = it->second.session;
      } else {
        shard.entries.erase(it);
        entries_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
  }
  (found ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return found;
}

void SessionCache::insert(const db::Sha256Digest& key, std::shared_ptr<const CachedSession> entry,
                          std::uint64_t generation_before) {
  if (!enabled() || !entry) return;
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  // Checked under the shard's lock: an invalidation bumps the generation before it takes the
  // lock to erase, so it either sees this entry or this insert sees its bump.
  if (!listening() || generation() != generation_before) return;
  auto it = shard.entries.find(key);
  if (it == shard.entries.end() && shard.entries.size() >= per_shard_) {
    shard.entries.erase(shard.entries.begin());  // full: any one goes
    entries_.fetch_sub(1, std::memory_order_relaxed);
  }
  Entry e{std::move(entry), std::chrono::steady_clock::now() + ttl_};
  if (it != shard.entries.end()) {
    it->second = std::move(e);
  } else {
    shard.entries.emplace(key, std::move(e));
    entries_.fetch_add(1, std::memory_order_relaxed);
  }
}

void SessionCache::drop_session(const db::Sha256Digest& key) {
  bump();
  invalidations_.fetch_add(1, std::memory_order_relaxed);
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  if (shard.entries.erase(key) > 0) entries_.fetch_sub(1, std::memory_order_relaxed);
}

void SessionCache::drop_user(std::int64_t user_id) {
  bump();
  invalidations_.fetch_add(1, std::memory_order_relaxed);
  for (Shard& shard : shards_) {
    const std::lock_guard lock(shard.mutex);
    const std::size_t erased = std::erase_if(shard.entries, [&](const auto& item) {
      return item.second.session->session.user.id == user_id;
    });
    entries_.fetch_sub(erased, std::memory_order_relaxed);
  }
}

void SessionCache::clear() {
  bump();
  invalidations_.fetch_add(1, std::memory_order_relaxed);
  for (Shard& shard : shards_) {
    const std::lock_guard lock(shard.mutex);
    entries_.fetch_sub(shard.entries.size(), std::memory_order_relaxed);
    shard.entries.clear();
  }
}

void SessionCache::set_listening(bool listening) {
  listening_.store(listening, std::memory_order_release);
  clear();
}

SessionCacheStats SessionCache::stats() const {
  return {hits_.load(std::memory_order_relaxed), misses_.load(std::memory_order_relaxed),
          invalidations_.load(std::memory_order_relaxed), entries_.load(std::memory_order_relaxed)};
}

void apply_invalidation(SessionCache& cache, std::string_view payload) {
  if (payload.starts_with("s:")) {
    const auto bytes = db::from_hex(payload.substr(2));
    if (bytes && bytes->size() == db::kSha256Bytes) {
      db::Sha256Digest key{};
      std::copy(bytes->begin(), bytes->end(), key.begin());
      cache.drop_session(key);
      return;
    }
  } else if (payload.starts_with("u:")) {
    std::int64_t id = 0;
    const auto digits = payload.substr(2);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (error == std::errc() && end == digits.data() + digits.size() && !digits.empty()) {
      cache.drop_user(id);
      return;
    }
  }
  cache.clear();  // not understood: nothing cached is trusted
}

}  // namespace authd::auth
