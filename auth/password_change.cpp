#include <exception>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include "auth/account_rows.hpp"
#include "auth/accounts.hpp"
#include "auth/validation.hpp"
#include "db/statements.hpp"

namespace authd::auth {

using detail::name;

net::awaitable<Result<std::monostate>> Accounts::prove_password(std::int64_t user_id,
                                                                std::string password,
                                                                std::function<bool()> client_gone,
                                                                std::string_view wrong) {
  if (!utf8_length(password)) co_return detail::password_not_utf8();
  const std::string account_key = detail::login_account_key(user_id, {});
  std::vector<LimitKey> keys;
  keys.push_back({account_key, options_.account});
  const Tally tally = co_await limiter_.count(std::move(keys));
  if (tally.over()) {
    co_await give_back(tally);
    ++counters_.limited;
    co_return detail::too_many_attempts(tally.retry_after());
  }
  auto current_hash = [user_id](pqxx::connection& c) -> std::optional<std::string> {
    pqxx::nontransaction tx(c);
    const pqxx::result rows = tx.exec_prepared(name(db::sql::kUserPasswordHash), user_id);
    if (rows.empty()) return std::nullopt;
    return rows[0][0].as<std::string>();
  };
  PasswordCheck check;
  std::exception_ptr failure;
  try {
    const std::optional<std::string> stored_text = co_await db_.run(std::move(current_hash));
    std::optional<StoredHash> stored;
    if (stored_text) stored = parse_stored_hash(*stored_text);
    check = co_await verify_attempt(std::move(password), stored, std::move(client_gone));
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    co_await give_back(tally);
    std::rethrow_exception(failure);
  }
  if (!check.matched) co_return detail::invalid_credentials(std::string(wrong));
  std::vector<std::string> cleared;
  cleared.push_back(account_key);
  co_await limiter_.settle(tally, std::move(cleared));
  co_return std::monostate{};
}

net::awaitable<Result<std::monostate>> Accounts::change_password(
    const Session& session, std::string current_password, std::string new_password,
    std::function<bool()> client_gone) {
  // Copied before the first suspension: the caller's session need not outlive it.
  const std::int64_t user_id = session.user.id;
  const std::string keep_session = session.token_hash_hex;
  if (auto problem = check_password(new_password)) co_return detail::invalid_field(*problem);
  // A guess at the current password is a login attempt of this account.
  Result<std::monostate> proven = co_await prove_password(
      user_id, std::move(current_password), client_gone, "The current password is wrong.");
  if (auto* refused = std::get_if<Error>(&proven)) co_return std::move(*refused);

  PasswordHash fresh = salted_hash(options_.iterations);
  fresh.key = co_await hashes_.derive(std::move(new_password), fresh.salt, fresh.iterations,
                                      kKeyBytes, std::move(client_gone));
  const std::string new_hash = format_phc(fresh);
  OPENSSL_cleanse(fresh.key.data(), fresh.key.size());
  auto update = [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared(name(db::sql::kChangePassword), user_id, new_hash, keep_session);
  };
  co_await db_.run(std::move(update));
  sessions_.drop_user(user_id);
  co_return std::monostate{};
}

}  // namespace authd::auth
