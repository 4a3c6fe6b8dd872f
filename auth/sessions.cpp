#include <stdexcept>
#include <utility>

#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "auth/account_rows.hpp"
#include "auth/accounts.hpp"
#include "auth/session_token.hpp"
#include "db/statements.hpp"

namespace authd::auth {

using detail::name;
using detail::params;

net::awaitable<db::Rows> Accounts::confirm_session(const std::string& token_hash) {
  db::Rows found = co_await requests_.exec(db::sql::kConfirmSession, params(token_hash));
  if (found.empty()) throw db::DatabaseUnavailable("the new session did not commit");
  co_return found;
}

net::awaitable<LoginResult> Accounts::start_session(const User& user, const std::string& old_hash,
                                                    const std::optional<std::string>& upgraded,
                                                    const Tally& tally, const std::string& cleared,
                                                    std::string aal) {
  LoginResult result{user, new_session_token(), {}, {}};
  const std::string token_hash = *token_hash_hex(result.token);
  const auto ttl = static_cast<std::int64_t>(options_.session_ttl.count());
  // The count's rows are settled in a statement of their own, committed without waiting for the
  // WAL flush: the session's commit waits for it, and must not hold those hot rows meanwhile.
  std::vector<std::string> cleared_keys;
  cleared_keys.push_back(cleared);
  co_await limiter_.settle(tally, std::move(cleared_keys));
  if (!upgraded) {
    db::Rows created{nullptr};
    bool unknown = false;
    try {
      created = co_await requests_.exec(
          db::sql::kInsertSession, params(token_hash, std::to_string(user.id), std::to_string(ttl),
                                          options_.durable_sessions ? "true" : "false", aal));
    } catch (const db::OutcomeUnknown&) {
      unknown = true;
    }
    if (unknown) created = co_await confirm_session(token_hash);
    if (created.size() != 1) throw std::runtime_error("the new session gave no row");
    result.expires_at = created.string(0, 0);
    ++counters_.sessions_created;
    co_return result;
  }
  auto create_session = [&](pqxx::connection& c) {
    // The hash upgrade shares the transaction: it commits as the server is configured.
    pqxx::work tx(c);
    std::string expires_at = tx.exec_params1(std::string(db::sql::kInsertSession.text), token_hash,
                                             user.id, ttl, true, aal)[0]
                                 .as<std::string>();
    // Only if the hash is still the one verified: a concurrent password change wins.
    tx.exec_prepared(name(db::sql::kUpgradeHash), user.id, *upgraded, old_hash);
    tx.commit();
    return expires_at;
  };
  result.expires_at = co_await db_.run(std::move(create_session));
  ++counters_.sessions_created;
  co_return result;
}

net::awaitable<std::shared_ptr<const CachedSession>> Accounts::check_session(std::string_view token,
                                                                             bool fresh) {
  const auto digest = token_digest(token);
  if (!digest) co_return nullptr;
  if (!fresh) {
    if (auto cached = sessions_.find(*digest)) co_return cached;
  }
  const std::uint64_t generation = sessions_.generation();
  const db::Rows rows = co_await requests_.exec(db::sql::kSessionUser, params(db::to_hex(*digest)));
  if (rows.empty()) co_return nullptr;
  auto found =
      make_cached_session(Session{detail::user_from(rows, 0), rows.string(0, 6),
                                  db::to_hex(*digest), rows.string(0, 8), rows.boolean(0, 9)},
                          rows.integer(0, 7));
  sessions_.insert(*digest, found, generation);
  co_return found;
}

net::awaitable<std::optional<Session>> Accounts::authenticate(std::string_view token) {
  const auto found = co_await check_session(token, true);
  if (!found) co_return std::nullopt;
  co_return found->session;
}

net::awaitable<bool> Accounts::logout(std::string_view token) {
  const auto digest = token_digest(token);
  if (!digest) co_return false;
  const db::Rows ended =
      co_await requests_.exec(db::sql::kDeleteSession, params(db::to_hex(*digest)));
  // This instance refuses it at once; the others when the notification arrives.
  sessions_.drop_session(*digest);
  co_return !ended.empty();
}

net::awaitable<void> Accounts::logout_all(std::int64_t user_id) {
  auto query = [user_id](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared(name(db::sql::kDeleteUserSessions), user_id);
  };
  co_await db_.run(std::move(query));
  sessions_.drop_user(user_id);
}

}  // namespace authd::auth
