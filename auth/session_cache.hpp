#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/user.hpp"
#include "db/digest.hpp"

// Recently seen sessions in memory, so a session check (/api/v1/me, the front door's verdicts)
// costs a SHA-256 and a lookup instead of a round trip to PostgreSQL. Every change that ends or
// alters a session is announced by PostgreSQL NOTIFY in the changing transaction; each instance
// drops what it cached when the announcement arrives (db/notifications), and the instance that
// made the change drops it at once. While an instance does not listen (its listening connection
// lost), nothing is served from here and nothing is added.
namespace authd::auth {

// A session as a check answers it, with what the answers need already serialised.
struct CachedSession {
  Session session;
  std::chrono::system_clock::time_point expires;  // the session's own end
  // "Remote-User: …\r\nRemote-Email: …\r\n…": the front door's identity headers as they go on
  // the wire (Remote-User, -Email, -Groups, -User-Id, -AAL; values free of CR, LF and controls).
  std::string identity_block;
  std::string me_body;  // {"user": ...} as /api/v1/me answers
  // The minute (since the epoch) this session was last known to be seen: read with it from the
  // database, then moved on by each check in a later minute (auth/last_seen), so a session is
  // marked at most once a minute however often it is checked.
  mutable std::atomic<std::int64_t> seen_minute{0};
};

// The identity headers' block for these values (empty values: the block of nobody).
std::string identity_block(std::string_view user, std::string_view email, std::string_view groups,
                           std::string_view id, std::string_view aal);

// Builds the serialised parts of a session read from the database.
std::shared_ptr<const CachedSession> make_cached_session(Session session,
                                                         std::int64_t expires_epoch);

struct SessionCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t invalidations = 0;
  std::size_t entries = 0;
};

class SessionCache {
 public:
  // capacity 0: nothing is ever cached.
  SessionCache(std::size_t capacity, std::chrono::seconds ttl);

  // The cached session of a token's digest, if one is trusted now.
  std::shared_ptr<const CachedSession> find(const db::Sha256Digest& key);

  // Read before a session is looked up in the database, passed to insert after: an
  // invalidation in between (or a change of listening) keeps the result out of the cache.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  void insert(const db::Sha256Digest& key, std::shared_ptr<const CachedSession> entry,
              std::uint64_t generation_before);

  // Invalidations: one session, every session of a user, everything.
  void drop_session(const db::Sha256Digest& key);
  void drop_user(std::int64_t user_id);
  void clear();

  // Whether the instance listens for invalidations; false empties the cache and bypasses it,
  // true (listening again, having missed what came meanwhile) empties it and serves again.
  void set_listening(bool listening);
  bool listening() const { return listening_.load(std::memory_order_acquire); }
  bool enabled() const { return capacity_ > 0; }

  SessionCacheStats stats() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct KeyHash {
    std::size_t operator()(const db::Sha256Digest& d) const {
      std::size_t h;
      std::memcpy(&h, d.data(), sizeof h);  // a SHA-256 is its own good hash
      return h;
    }
  };
  struct Entry {
    std::shared_ptr<const CachedSession> session;
    std::chrono::steady_clock::time_point trusted_until;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<db::Sha256Digest, Entry, KeyHash> entries;
  };
  Shard& shard_for(const db::Sha256Digest& key) { return shards_[key[8] % kShards]; }
  void bump() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  const std::size_t capacity_;
  const std::size_t per_shard_;
  const std::chrono::seconds ttl_;
  std::array<Shard, kShards> shards_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> listening_{false};
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, invalidations_{0};
  std::atomic<std::size_t> entries_{0};
};

// Applies one notification of db::sql::kSessionsChannel: 's:<hex>' drops a session, 'u:<id>'
// a user's sessions, anything else (ours is '*') everything.
void apply_invalidation(SessionCache& cache, std::string_view payload);

}  // namespace authd::auth
