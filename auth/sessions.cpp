#include <stdexcept>
#include <utility>

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <boost/json/object.hpp>

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
                                                    const audit::Origin& origin, audit::Event event,
                                                    std::string aal) {
  LoginResult result{user, new_session_token(), {}, {}};
  const std::string token_hash = *token_hash_hex(result.token);
  const auto ttl = static_cast<std::int64_t>(options_.session_ttl.count());
  // The count's rows are settled in a statement of their own, committed without waiting for the
  // WAL flush: the session's commit waits for it, and must not hold those hot rows meanwhile.
  std::vector<std::string> cleared_keys;
  cleared_keys.push_back(cleared);
  co_await limiter_.settle(tally, std::move(cleared_keys));
  // The login's audit event commits with the session it records.
  const std::vector<audit::Event> events{std::move(event)};
  const std::string audit_json = options_.audit ? audit::events_json(events) : "[]";
  if (options_.audit) options_.audit->written(events.front().type);
  if (!upgraded) {
    db::Rows created{nullptr};
    bool unknown = false;
    try {
      created = co_await requests_.exec(
          db::sql::kInsertSession, params(token_hash, std::to_string(user.id), std::to_string(ttl),
                                          options_.durable_sessions ? "true" : "false", aal,
                                          origin.user_agent, origin.ip, audit_json));
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
    std::string expires_at =
        tx.exec_params1(std::string(db::sql::kInsertSession.text), token_hash, user.id, ttl, true,
                        aal, origin.user_agent, origin.ip, audit_json)[0]
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
    if (auto cached = sessions_.find(*digest)) {
      last_seen_.seen(*cached);
      co_return cached;
    }
  }
  const std::uint64_t generation = sessions_.generation();
  const db::Rows rows = co_await requests_.exec(db::sql::kSessionUser, params(db::to_hex(*digest)));
  if (rows.empty()) co_return nullptr;
  auto found =
      make_cached_session(Session{detail::user_from(rows, 0), rows.string(0, 6),
                                  db::to_hex(*digest), rows.string(0, 8), rows.boolean(0, 9)},
                          rows.integer(0, 7));
  found->seen_minute.store(rows.integer(0, 10), std::memory_order_relaxed);
  last_seen_.seen(*found);
  sessions_.insert(*digest, found, generation);
  co_return found;
}

net::awaitable<std::optional<Session>> Accounts::authenticate(std::string_view token) {
  const auto found = co_await check_session(token, true);
  if (!found) co_return std::nullopt;
  co_return found->session;
}

net::awaitable<std::optional<std::int64_t>> Accounts::logout(std::string_view token) {
  const auto digest = token_digest(token);
  if (!digest) co_return std::nullopt;
  const db::Rows ended =
      co_await requests_.exec(db::sql::kDeleteSession, params(db::to_hex(*digest)));
  // This instance refuses it at once; the others when the notification arrives.
  sessions_.drop_session(*digest);
  if (ended.empty()) co_return std::nullopt;
  co_return ended.integer(0, 0);
}

net::awaitable<void> Accounts::logout_all(std::int64_t user_id) {
  auto query = [user_id](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared(name(db::sql::kDeleteUserSessions), user_id);
  };
  co_await db_.run(std::move(query));
  sessions_.drop_user(user_id);
}

namespace {

// A public id as PostgreSQL prints a uuid: anything else names no session (and must not reach a
// ::uuid cast, which would fail the statement).
bool uuid_text(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

net::awaitable<boost::json::array> Accounts::list_sessions(const Session& session) {
  try {
    co_await last_seen_.flush(db_);
  } catch (const std::exception&) {
    // The list is read anyway; the marks wait for the writer.
  }
  auto query = [user_id = session.user.id, current = session.token_hash_hex](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result rows = tx.exec_prepared(name(db::sql::kListSessions), user_id, current);
    boost::json::array out;
    for (const auto& row : rows) {
      out.push_back(boost::json::object{{"id", row[0].as<std::string>()},
                                        {"created_at", row[1].as<std::string>()},
                                        {"expires_at", row[2].as<std::string>()},
                                        {"last_seen_at", row[3].as<std::string>()},
                                        {"user_agent", row[4].as<std::string>()},
                                        {"ip", row[5].as<std::string>()},
                                        {"aal", row[6].as<std::string>()},
                                        {"current", row[7].as<bool>()}});
    }
    return out;
  };
  co_return co_await db_.run(std::move(query));
}

net::awaitable<bool> Accounts::revoke_session(std::int64_t user_id, std::string public_id,
                                              audit::Event event) {
  if (!uuid_text(public_id)) co_return false;
  const bool audited = options_.audit != nullptr;
  auto revoke = [user_id, public_id, audited, event = std::move(event)](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::result ended = tx.exec_prepared(name(db::sql::kRevokeSession), user_id, public_id);
    if (ended.empty()) return false;
    if (audited) audit::insert(tx, {event});
    tx.commit();
    return true;
  };
  const bool ended = co_await db_.run(std::move(revoke));
  if (ended) {
    // Its token is not known here: the user's cached sessions go (the others are read again).
    sessions_.drop_user(user_id);
    if (audited) options_.audit->written(audit::Type::session_revoked);
  }
  co_return ended;
}

}  // namespace authd::auth
