#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>

#include "audit/audit.hpp"
#include "auth/session_cache.hpp"
#include "auth/user.hpp"
#include "db/executor.hpp"

// What an administrator does to users, and reads of the audit trail. Every change runs in one
// transaction with its audit event and tells every instance through the session cache's
// announcements (PostgreSQL NOTIFY at commit), so it holds everywhere at once.
namespace authd::admin {

namespace net = boost::asio;

struct AdminUser {
  auth::User user;  // disabled included
  bool two_factor = false;
};

struct UserPage {
  std::vector<AdminUser> users;
  std::optional<std::int64_t> next;  // the id to pass as `after` for the next page
};

struct Change {
  std::optional<std::string> role;  // "user" or "admin"
  std::optional<bool> disabled;
};

struct AuditPage {
  boost::json::array events;
  std::optional<std::int64_t> next;  // `after` for the next (older) page
};

class Users {
 public:
  Users(db::DbExecutor& db, auth::SessionCache& sessions, audit::Trail& trail)
      : db_(db), sessions_(sessions), trail_(trail) {}

  // query: a case-insensitive prefix of the username or the email ("" for everyone), users with
  // ids above after, at most limit of them, by id.
  net::awaitable<UserPage> search(std::string query, std::int64_t after, int limit);
  net::awaitable<std::optional<AdminUser>> get(std::int64_t id);
  // The user as changed; nullopt for an unknown one. Disabling ends every session of the user.
  net::awaitable<std::optional<AdminUser>> update(std::int64_t id, Change change,
                                                  audit::Event event);
  // False for an unknown user. The user's sessions end with it.
  net::awaitable<bool> remove(std::int64_t id, audit::Event event);
  net::awaitable<bool> logout_all(std::int64_t id, audit::Event event);

  // Newest first; before: only events with smaller ids (the cursor of the previous page).
  net::awaitable<AuditPage> audit(std::optional<std::int64_t> user, std::optional<audit::Type> type,
                                  std::optional<std::int64_t> before, int limit);

 private:
  db::DbExecutor& db_;
  auth::SessionCache& sessions_;
  audit::Trail& trail_;
};

// A query as a LIKE pattern that matches it as a prefix: '\', '%' and '_' stand for themselves.
std::string prefix_pattern(std::string_view query);

}  // namespace authd::admin
