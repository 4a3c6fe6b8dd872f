#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/awaitable.hpp>

#include "auth/error.hpp"
#include "auth/hash_pool.hpp"
#include "auth/password.hpp"
#include "db/async_db.hpp"
#include "db/executor.hpp"
#include "db/pool.hpp"

namespace authd::auth {

namespace net = boost::asio;

// A user as the API shows it; created_at is RFC 3339 UTC text made by PostgreSQL.
struct User {
  std::int64_t id = 0;
  std::string username, email, role, created_at;
};


struct SignupRequest {
  std::string username, email, password;
};

// identifier is an email when by_email, else a username; client_address keys the address limit.
struct Credentials {
  std::string identifier;
  bool by_email;
  std::string password;
  std::string client_address;
};

struct LoginResult {
  User user;
  std::string token;
  std::string expires_at;
};

struct Session {
  User user;
  std::string expires_at;
  std::string token_hash_hex;
};

// Failed logins allowed (count) per window.
struct RateLimitSetting {
  std::uint32_t count;
  std::chrono::seconds window;
};

struct AccountsOptions {
  std::uint32_t iterations;  // PBKDF2 cost of new hashes; lower stored costs are upgraded
  std::chrono::seconds session_ttl;
  RateLimitSetting account, address;
  // true: a new session is committed as the server is configured (by default: after its WAL
  // flush). false: without waiting for that flush (PostgreSQL's
  // synchronous_commit=off for that one statement). A crash of PostgreSQL within about a
  // second may then forget sessions just made (their holders log in again); revocations,
  // sign-ups, password changes and failure counts commit as configured either way.
  bool durable_sessions = true;
};

// Login outcomes since start, for /metrics.
struct LoginCounters {
  std::atomic<std::uint64_t> ok{0}, bad_credentials{0}, limited{0}, overloaded{0},
      sessions_created{0};
};

// Sign-up, login with failure limits, sessions and password changes. Refusals caused by the
// request come back as Error; infrastructure failures are exceptions: db::DatabaseUnavailable,
// db::PoolExhausted, and Overloaded when the hashing queue is full. Hashing runs on the HashPool
// and never while a database connection is held. The statements of sign-up, login, session
// checks and logout run on the event loop's own connections (AsyncDb); the rarer ones on the DB
// threads.
class Accounts {
 public:
  Accounts(db::DbExecutor& db, db::AsyncDb& requests, HashPool& hashes, AccountsOptions options);
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  // 400 invalid_username / invalid_email / invalid_password, 409 username_taken / email_taken.
  net::awaitable<Result<User>> signup(SignupRequest request);

  // 401 invalid_credentials (wrong password and unknown user alike), 429 too_many_attempts.
  net::awaitable<Result<LoginResult>> login(Credentials credentials);

  // nullopt for an unknown, expired or malformed token.
  net::awaitable<std::optional<Session>> authenticate(std::string_view token);

  // True when a session ended.
  net::awaitable<bool> logout(std::string_view token);

  // 401 invalid_credentials for a wrong current password, 400 invalid_password for a bad new
  // one. Ends every session of the user except the given one.
  net::awaitable<Result<std::monostate>> change_password(const Session& session,
                                                          std::string current_password,
                                                          std::string new_password);

  net::awaitable<void> logout_all(std::int64_t user_id);

  // Deletes expired sessions and login failure windows that have passed.
  net::awaitable<void> purge_expired();

  const LoginCounters& counters() const { return counters_; }

  // Blocking versions for the command line: they hash and query on the calling thread.
  static Result<User> create_user(db::ConnectionPool& pool, const SignupRequest& request,
                                   bool admin, std::uint32_t iterations);
  // False when no user has that email (compared case-insensitively).
  static bool grant_admin(db::ConnectionPool& pool, std::string_view email);

 private:
  net::awaitable<Result<User>> insert_user(const SignupRequest& request,
                                            const std::string& password_hash);

  db::DbExecutor& db_;
  db::AsyncDb& requests_;
  HashPool& hashes_;
  const AccountsOptions options_;
  // Verified against when the user is unknown or the stored hash unreadable: the same work as a
  // real check, so the answer's timing reveals nothing.
  const PasswordHash dummy_;
  LoginCounters counters_;
};

}  // namespace authd::auth
