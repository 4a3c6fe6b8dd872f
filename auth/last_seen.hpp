#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <pqxx/connection>

#include "auth/session_cache.hpp"

namespace authd::db {
class DbExecutor;
}

namespace authd::auth {

namespace net = boost::asio;

// When each session was last seen, to the minute, written off the request path: a session check
// only marks the session (in memory, at most once a minute per session), and a writer stores
// what was marked in one statement per round. A check never waits for, or becomes, a write.
class LastSeen {
 public:
  static constexpr std::size_t kMaxMarked = 200'000;

  // A check of this session now.
  void seen(const CachedSession& session);
  // Writes what was marked (one statement); what cannot be written is kept for the next round.
  net::awaitable<void> flush(db::DbExecutor& db);
  void flush_blocking(pqxx::connection& connection);
  std::size_t marked() const;

 private:
  std::unordered_map<std::string, std::int64_t> take();
  void put_back(std::unordered_map<std::string, std::int64_t> marks);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> marked_;  // token hash hex -> seconds
};

}  // namespace authd::auth
