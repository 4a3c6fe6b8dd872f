#include "auth/accounts.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "auth/session_token.hpp"
#include "auth/validation.hpp"
#include "db/statements.hpp"

namespace authd::auth {
namespace {

constexpr std::string_view kUserRole = "user";
constexpr std::string_view kAdminRole = "admin";

// ON CONFLICT DO NOTHING with no clash found afterwards means the clashing row went away again
// (or an id was taken by a restore); the insert is simply tried again, a bounded number of times.
constexpr int kInsertAttempts = 3;

std::string name(const db::sql::Statement& statement) {
  return std::string(statement.name);
}

// The five user columns (id, username, email, role, created_at) starting at column first.
User user_from(const pqxx::row& row, pqxx::row::size_type first = 0) {
  return User{row[first].as<std::int64_t>(), row[first + 1].as<std::string>(),
              row[first + 2].as<std::string>(), row[first + 3].as<std::string>(),
              row[first + 4].as<std::string>()};
}
User user_from(const db::Rows& rows, int row, int first = 0) {
  return User{rows.integer(row, first), rows.string(row, first + 1), rows.string(row, first + 2),
              rows.string(row, first + 3), rows.string(row, first + 4)};
}

// A statement's text parameters. (Built by a plain function: a braced list inside a co_await
// expression trips GCC 12's coroutine code.)
template <class... Values>
std::vector<std::string> params(Values&&... values) {
  std::vector<std::string> out;
  out.reserve(sizeof...(Values));
  (out.emplace_back(std::forward<Values>(values)), ...);
  return out;
}

Error invalid_field(const FieldProblem& problem) {
  return {ErrorKind::invalid, problem.code, problem.detail};
}

// The 409 for a clash that find_clash reported: on the username, or else on the email.
Error taken(bool username) {
  if (username) return {ErrorKind::conflict, "username_taken", "That username is already taken."};
  return {ErrorKind::conflict, "email_taken", "An account with that email already exists."};
}

Error invalid_credentials() {
  return {ErrorKind::unauthenticated, "invalid_credentials", "The login or the password is wrong."};
}

std::optional<Error> check_signup(const SignupRequest& request) {
  if (auto problem = check_username(request.username)) return invalid_field(*problem);
  if (auto problem = check_email(request.email)) return invalid_field(*problem);
  if (auto problem = check_password(request.password)) return invalid_field(*problem);
  return std::nullopt;
}

// Inserts the user; when a unique index refuses it, tells which field clashed. (The command
// line's version; a sign-up request's is Accounts::insert_user.)
Result<User> insert_user_blocking(pqxx::connection& connection, const SignupRequest& request,
                                   const std::string& password_hash, std::string_view role) {
  pqxx::nontransaction tx(connection);
  for (int attempt = 0; attempt < kInsertAttempts; ++attempt) {
    const pqxx::result inserted = tx.exec_prepared(name(db::sql::kInsertUser), request.username,
                                                   request.email, password_hash, std::string(role));
    if (!inserted.empty()) return user_from(inserted[0]);
    // Each statement sees what committed before it started, the competing insert included.
    const pqxx::result clash =
        tx.exec_prepared(name(db::sql::kFindClash), request.username, request.email);
    if (clash.empty()) continue;
    return taken(clash[0][0].as<bool>());
  }
  throw std::runtime_error("could not insert the user: a unique index kept refusing it");
}

// A sign-up whose insert may or may not have committed (the connection broke after sending
// it): its own row, the same username, email and the very hash it wrote, answers it; without
// that row it is 503, never a 409 for the row it may have made itself.
net::awaitable<User> confirm_signup(db::AsyncDb& database, const SignupRequest& request,
                                    const std::string& password_hash) {
  const db::Rows found = co_await database.exec(
      db::sql::kConfirmUser, params(request.username, request.email, password_hash));
  if (found.empty()) throw db::DatabaseUnavailable("the sign-up's insert did not commit");
  co_return user_from(found, 0);
}

// The same for a new session: its token hash is in the table, or the login is 503.
net::awaitable<db::Rows> confirm_session(db::AsyncDb& database, const std::string& token_hash) {
  db::Rows found = co_await database.exec(db::sql::kConfirmSession, params(token_hash));
  if (found.empty()) throw db::DatabaseUnavailable("the new session did not commit");
  co_return found;
}

// What the one-round-trip login lookup found.
struct LoginLookup {
  std::optional<std::int64_t> retry_after;  // set when a limit is reached
  std::optional<User> user;
  std::string password_hash;
};

// A login's password check: whether it matched, and when it did on a hash cheaper than the
// configured cost, the replacement hash.
struct PasswordCheck {
  bool matched = false;
  std::optional<std::string> upgraded;
};

}  // namespace

Accounts::Accounts(db::DbExecutor& db, db::AsyncDb& requests, HashPool& hashes,
                   AccountsOptions options)
    : db_(db),
      requests_(requests),
      hashes_(hashes),
      options_(options),
      dummy_(*parse_phc(dummy_phc(std::max<std::uint32_t>(options.iterations, 1)))) {}

net::awaitable<Result<User>> Accounts::signup(SignupRequest request) {
  if (auto error = check_signup(request)) co_return std::move(*error);

  PasswordHash fresh = salted_hash(options_.iterations);
  fresh.key =
      co_await hashes_.derive(std::move(request.password), fresh.salt, fresh.iterations, kKeyBytes);
  const std::string password_hash = format_phc(fresh);
  OPENSSL_cleanse(fresh.key.data(), fresh.key.size());
  co_return co_await insert_user(request, password_hash);
}

net::awaitable<Result<User>> Accounts::insert_user(const SignupRequest& request,
                                                    const std::string& password_hash) {
  for (int attempt = 0; attempt < kInsertAttempts; ++attempt) {
    db::Rows inserted{nullptr};
    bool unknown = false;
    try {
      inserted = co_await requests_.exec(
          db::sql::kInsertUser,
          params(request.username, request.email, password_hash, std::string(kUserRole)));
    } catch (const db::OutcomeUnknown&) {
      unknown = true;  // (no co_await inside a handler)
    }
    if (unknown) co_return co_await confirm_signup(requests_, request, password_hash);
    if (!inserted.empty()) co_return user_from(inserted, 0);
    // Each statement sees what committed before it started, the competing insert included.
    const db::Rows clash =
        co_await requests_.exec(db::sql::kFindClash, params(request.username, request.email));
    if (clash.empty()) continue;
    co_return taken(clash.boolean(0, 0));
  }
  throw std::runtime_error("could not insert the user: a unique index kept refusing it");
}

net::awaitable<Result<LoginResult>> Accounts::login(Credentials credentials) {
  const std::string identifier = ascii_lower(credentials.identifier);
  const std::string account_key = "account:" + identifier;
  const std::string address_key = "address:" + credentials.client_address;
  const auto& statement = credentials.by_email ? db::sql::kLoginByEmail : db::sql::kLoginByUsername;

  const std::string account_window = std::to_string(options_.account.window.count());
  const std::string address_window = std::to_string(options_.address.window.count());
  LoginLookup lookup;
  {
    const db::Rows row = co_await requests_.exec(
        statement,
        params(identifier, account_key, address_key, account_window, address_window,
               std::to_string(options_.account.count), std::to_string(options_.address.count)));
    if (row.size() != 1) throw std::runtime_error("the login lookup gave no row");
    if (!row.is_null(0, 0)) lookup.retry_after = row.integer(0, 0);
    if (!row.is_null(0, 1)) {
      lookup.user = user_from(row, 0, 1);
      lookup.password_hash = row.string(0, 6);
    }
  }

  // Refused before any hashing, right password or not: a limited account is no password oracle
  // and costs no CPU.
  if (lookup.retry_after) {
    ++counters_.limited;
    co_return Error{ErrorKind::limited, "too_many_attempts", "Too many failed logins; try again later.",
                        std::max<std::int64_t>(*lookup.retry_after, 1)};
  }

  std::optional<PasswordHash> stored;
  if (lookup.user) stored = parse_phc(lookup.password_hash);
  const bool known = stored.has_value();
  const PasswordHash& against = known ? *stored : dummy_;
  PasswordCheck check;
  try {
    // Always a full derivation, so unknown users take as long as known ones.
    std::vector<unsigned char> computed = co_await hashes_.derive(
        credentials.password, against.salt, against.iterations, against.key.size());
    check.matched = key_matches(against, computed) && known;
    OPENSSL_cleanse(computed.data(), computed.size());
  } catch (const Overloaded&) {
    ++counters_.overloaded;
    throw;
  }
  if (check.matched && against.iterations < options_.iterations) {
    try {
      PasswordHash upgraded = salted_hash(options_.iterations);
      upgraded.key = co_await hashes_.derive(std::move(credentials.password), upgraded.salt,
                                             upgraded.iterations, kKeyBytes);
      check.upgraded = format_phc(upgraded);
      OPENSSL_cleanse(upgraded.key.data(), upgraded.key.size());
    } catch (const std::exception&) {
      // The upgrade is opportunistic: the next login tries again.
    }
  }

  if (!check.matched) {
    co_await requests_.exec(db::sql::kRecordLoginFailure,
                            params(account_key, account_window, address_key, address_window));
    ++counters_.bad_credentials;
    co_return invalid_credentials();
  }

  LoginResult result{*lookup.user, new_session_token(), {}};
  const std::string token_hash = *token_hash_hex(result.token);
  const auto ttl = static_cast<std::int64_t>(options_.session_ttl.count());
  if (!check.upgraded) {
    // One statement, one round trip, on the event loop's own connection: the common case.
    db::Rows created{nullptr};
    bool unknown = false;
    try {
      created = co_await requests_.exec(
          db::sql::kCreateSession,
          params(token_hash, std::to_string(result.user.id), std::to_string(ttl), account_key,
                 options_.durable_sessions ? "true" : "false"));
    } catch (const db::OutcomeUnknown&) {
      unknown = true;
    }
    if (unknown) created = co_await confirm_session(requests_, token_hash);
    if (created.size() != 1) throw std::runtime_error("the new session gave no row");
    result.expires_at = created.string(0, 0);
    ++counters_.sessions_created;
    ++counters_.ok;
    co_return result;
  }
  auto create_session = [&](pqxx::connection& c) {
    // The hash upgrade shares the transaction: it commits as the server is configured.
    pqxx::work tx(c);
    std::string expires_at = tx.exec_prepared1(name(db::sql::kCreateSession), token_hash,
                                               result.user.id, ttl, account_key, true)[0]
                                 .as<std::string>();
    // Only if the hash is still the one verified: a concurrent password change wins.
    tx.exec_prepared(name(db::sql::kUpgradeHash), result.user.id, *check.upgraded,
                     lookup.password_hash);
    tx.commit();
    return expires_at;
  };
  result.expires_at = co_await db_.run(std::move(create_session));
  ++counters_.sessions_created;
  ++counters_.ok;
  co_return result;
}

net::awaitable<std::optional<Session>> Accounts::authenticate(std::string_view token) {
  auto token_hash = token_hash_hex(token);
  if (!token_hash) co_return std::nullopt;
  const db::Rows rows = co_await requests_.exec(db::sql::kSessionUser, params(*token_hash));
  if (rows.empty()) co_return std::nullopt;
  co_return Session{user_from(rows, 0), rows.string(0, 5), *token_hash};
}

net::awaitable<bool> Accounts::logout(std::string_view token) {
  auto token_hash = token_hash_hex(token);
  if (!token_hash) co_return false;
  const db::Rows ended = co_await requests_.exec(db::sql::kDeleteSession, params(*token_hash));
  co_return !ended.empty();
}

net::awaitable<Result<std::monostate>> Accounts::change_password(const Session& session,
                                                                  std::string current_password,
                                                                  std::string new_password) {
  // Copied before the first suspension: the caller's session need not outlive it.
  const std::int64_t user_id = session.user.id;
  const std::string keep_session = session.token_hash_hex;
  if (auto problem = check_password(new_password)) co_return invalid_field(*problem);

  auto current_hash = [&](pqxx::connection& c) -> std::optional<std::string> {
    pqxx::nontransaction tx(c);
    const pqxx::result rows = tx.exec_prepared(name(db::sql::kUserPasswordHash), user_id);
    if (rows.empty()) return std::nullopt;
    return rows[0][0].as<std::string>();
  };
  const std::optional<std::string> stored_text = co_await db_.run(std::move(current_hash));

  std::optional<PasswordHash> stored;
  if (stored_text) stored = parse_phc(*stored_text);
  const bool known = stored.has_value();
  const PasswordHash& against = known ? *stored : dummy_;
  std::vector<unsigned char> computed = co_await hashes_.derive(
      std::move(current_password), against.salt, against.iterations, against.key.size());
  const bool matched = key_matches(against, computed) && known;
  OPENSSL_cleanse(computed.data(), computed.size());
  if (!matched) {
    co_return Error{ErrorKind::unauthenticated, "invalid_credentials", "The current password is wrong."};
  }
  PasswordHash fresh = salted_hash(options_.iterations);
  fresh.key =
      co_await hashes_.derive(std::move(new_password), fresh.salt, fresh.iterations, kKeyBytes);
  const std::string new_hash = format_phc(fresh);
  OPENSSL_cleanse(fresh.key.data(), fresh.key.size());

  auto update = [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared(name(db::sql::kChangePassword), user_id, new_hash, keep_session);
  };
  co_await db_.run(std::move(update));
  co_return std::monostate{};
}

net::awaitable<void> Accounts::logout_all(std::int64_t user_id) {
  auto query = [user_id](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared(name(db::sql::kDeleteUserSessions), user_id);
  };
  co_await db_.run(std::move(query));
}

net::awaitable<void> Accounts::purge_expired() {
  auto query = [](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared(name(db::sql::kPurgeSessions));
    tx.exec_prepared(name(db::sql::kPurgeLoginFailures));
  };
  co_await db_.run(std::move(query));
}

Result<User> Accounts::create_user(db::ConnectionPool& pool, const SignupRequest& request,
                                    bool admin, std::uint32_t iterations) {
  if (auto error = check_signup(request)) return std::move(*error);
  const std::string password_hash = hash_password(request.password, iterations);
  auto insert = [&](pqxx::connection& c) {
    return insert_user_blocking(c, request, password_hash, admin ? kAdminRole : kUserRole);
  };
  return db::with_connection(
      pool, std::chrono::steady_clock::now() + pool.options().acquire_timeout, insert);
}

bool Accounts::grant_admin(db::ConnectionPool& pool, std::string_view email) {
  auto update = [email](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return !tx.exec_prepared(name(db::sql::kGrantAdmin), std::string(email)).empty();
  };
  return db::with_connection(
      pool, std::chrono::steady_clock::now() + pool.options().acquire_timeout, update);
}

}  // namespace authd::auth
