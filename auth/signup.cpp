#include <exception>
#include <stdexcept>
#include <utility>

#include <openssl/crypto.h>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "auth/account_rows.hpp"
#include "auth/accounts.hpp"
#include "auth/validation.hpp"
#include "db/statements.hpp"

namespace authd::auth {
namespace {

using detail::name;
using detail::params;
using detail::user_from;

// ON CONFLICT DO NOTHING with no clash found afterwards means the clashing row went away again
// (or an id was taken by a restore); the insert is simply tried again, a bounded number of times.
constexpr int kInsertAttempts = 3;

// The 409 for a clash that find_clash reported: on the username, or else on the email.
Error taken(bool username) {
  if (username) return {ErrorKind::conflict, "username_taken", "That username is already taken."};
  return {ErrorKind::conflict, "email_taken", "An account with that email already exists."};
}

Error too_many_signups(std::int64_t retry_after) {
  return {ErrorKind::limited, "too_many_signups",
          "Too many sign-ups from this address; try again later.",
          std::max<std::int64_t>(retry_after, 1)};
}

std::optional<Error> check_signup(const SignupRequest& request) {
  if (auto problem = check_username(request.username)) return detail::invalid_field(*problem);
  if (auto problem = check_email(request.email)) return detail::invalid_field(*problem);
  if (auto problem = check_password(request.password)) return detail::invalid_field(*problem);
  return std::nullopt;
}

// Inserts the user; when a unique index refuses it, tells which field clashed. (The command
// line's version; a sign-up request's is Accounts::insert_user.)
Result<User> insert_user_blocking(pqxx::transaction_base& tx, const SignupRequest& request,
                                  const std::string& password_hash, std::string_view role) {
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

}  // namespace

net::awaitable<Result<User>> Accounts::signup(SignupRequest request) {
  if (auto error = check_signup(request)) co_return std::move(*error);

  // Counted before the hash, like a login: simultaneous sign-ups cannot all slip under it.
  Tally tally;
  if (options_.signup_address) {
    std::vector<LimitKey> keys;
    keys.push_back({"signup:" + address_key(request.client_address), *options_.signup_address});
    tally = co_await limiter_.count(std::move(keys));
    if (tally.over()) {
      co_await give_back(tally);  // refused, so not a sign-up: the window stays at its limit
      ++counters_.signups_limited;
      co_return too_many_signups(tally.retry_after());
    }
  }

  std::string password_hash;
  std::exception_ptr failure;
  try {
    PasswordHash fresh = salted_hash(options_.iterations);
    fresh.key = co_await hashes_.derive(std::move(request.password), fresh.salt, fresh.iterations,
                                        kKeyBytes, std::move(request.client_gone));
    password_hash = format_phc(fresh);
    OPENSSL_cleanse(fresh.key.data(), fresh.key.size());
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    // Nothing was signed up (queue full, client gone): the attempt is given back.
    co_await give_back(tally);
    std::rethrow_exception(failure);
  }
  Result<User> created = co_await insert_user(request, password_hash);
  if (auto* user = std::get_if<User>(&created); user && options_.mail) {
    // The user exists either way: a verification mail that cannot be queued now can be asked
    // for again (resend).
    try {
      co_await queue_verification(*user);
    } catch (const std::exception&) {
    }
  }
  co_return created;
}

net::awaitable<Result<User>> Accounts::insert_user(const SignupRequest& request,
                                                   const std::string& password_hash) {
  for (int attempt = 0; attempt < kInsertAttempts; ++attempt) {
    db::Rows inserted{nullptr};
    bool unknown = false;
    try {
      inserted = co_await requests_.exec(
          db::sql::kInsertUser,
          params(request.username, request.email, password_hash, std::string(detail::kUserRole)));
    } catch (const db::OutcomeUnknown&) {
      unknown = true;  // (no co_await inside a handler)
    }
    if (unknown) {
      // The insert may or may not have committed: its own row (same username, email and the very
      // hash it wrote) answers it; without that row it is 503, never a 409 for its own row.
      const db::Rows found = co_await requests_.exec(
          db::sql::kConfirmUser, params(request.username, request.email, password_hash));
      if (found.empty()) throw db::DatabaseUnavailable("the sign-up's insert did not commit");
      co_return user_from(found, 0);
    }
    if (!inserted.empty()) co_return user_from(inserted, 0);
    // Each statement sees what committed before it started, the competing insert included.
    const db::Rows clash =
        co_await requests_.exec(db::sql::kFindClash, params(request.username, request.email));
    if (clash.empty()) continue;
    co_return taken(clash.boolean(0, 0));
  }
  throw std::runtime_error("could not insert the user: a unique index kept refusing it");
}

Result<User> Accounts::create_user(db::ConnectionPool& pool, const SignupRequest& request,
                                   bool admin, std::uint32_t iterations, std::string_view actor) {
  if (auto error = check_signup(request)) return std::move(*error);
  const std::string password_hash = hash_password(request.password, iterations);
  auto insert = [&](pqxx::connection& c) -> Result<User> {
    // The insert never fails inside the transaction (a clash returns no row), so one transaction
    // holds it and its audit event.
    pqxx::work tx(c);
    const std::string_view role = admin ? detail::kAdminRole : detail::kUserRole;
    auto created = insert_user_blocking(tx, request, password_hash, role);
    const auto* user = std::get_if<User>(&created);
    if (!user) return created;
    audit::insert(
        tx,
        {audit::Event{
            audit::Type::signup, user->id, std::string(actor), {}, {{"role", std::string(role)}}}});
    tx.commit();
    return created;
  };
  return db::with_connection(
      pool, std::chrono::steady_clock::now() + pool.options().acquire_timeout, insert);
}

bool Accounts::grant_admin(db::ConnectionPool& pool, std::string_view email) {
  auto update = [email](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::result granted = tx.exec_prepared(name(db::sql::kGrantAdmin), std::string(email));
    if (granted.empty()) return false;
    // An admin action of the command line, recorded with it.
    audit::insert(tx, {audit::Event{audit::Type::admin_user_updated,
                                    granted[0][0].as<std::int64_t>(),
                                    "cli",
                                    {},
                                    {{"role", "admin"}}}});
    tx.commit();
    return true;
  };
  return db::with_connection(
      pool, std::chrono::steady_clock::now() + pool.options().acquire_timeout, update);
}

}  // namespace authd::auth
