#include "auth/accounts.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <pqxx/nontransaction>

#include "auth/account_rows.hpp"
#include "db/statements.hpp"

namespace authd::auth {

Accounts::Accounts(db::DbExecutor& db, db::AsyncDb& requests, HashPool& hashes,
                   AccountsOptions options)
    : db_(db),
      requests_(requests),
      hashes_(hashes),
      limiter_(requests),
      options_(options),
      dummy_(*parse_phc(dummy_phc(std::max<std::uint32_t>(options.iterations, 1)))),
      sessions_(options.session_cache, options.session_cache_ttl) {}

net::awaitable<Accounts::PasswordCheck> Accounts::verify_attempt(
    std::string password, const std::optional<PasswordHash>& stored,
    std::function<bool()> client_gone) {
  const bool known = stored.has_value();
  const PasswordHash& against = known ? *stored : dummy_;
  // Sign-up refuses control characters, so no password set through authd has one; a NUL
  // especially must never let a shorter secret through.
  const bool may_match = is_printable_utf8(password);
  PasswordCheck check;
  {
    std::vector<unsigned char> computed = co_await hashes_.derive(
        password, against.salt, against.iterations, against.key.size(), std::move(client_gone));
    check.matched = key_matches(against, computed) && known && may_match;
    OPENSSL_cleanse(computed.data(), computed.size());
  }
  if (against.iterations >= options_.iterations) {
    OPENSSL_cleanse(password.data(), password.size());
    co_return check;
  }
  if (check.matched) {
    try {
      PasswordHash upgraded = salted_hash(options_.iterations);
      upgraded.key = co_await hashes_.derive(std::move(password), upgraded.salt,
                                             upgraded.iterations, kKeyBytes);
      check.upgraded = format_phc(upgraded);
      OPENSSL_cleanse(upgraded.key.data(), upgraded.key.size());
    } catch (const std::exception&) {
      // The upgrade is opportunistic: the next login tries again.
    }
    co_return check;
  }
  // A wrong password on a cheap hash: the rest of the configured cost on the dummy, so it is
  // answered no sooner than an unknown user. Not abandoned, and a full queue does not turn the
  // 401 into a 503: the check itself has run and its verdict stands.
  try {
    std::vector<unsigned char> padding = co_await hashes_.derive(
        std::move(password), dummy_.salt, options_.iterations - against.iterations, kKeyBytes);
    OPENSSL_cleanse(padding.data(), padding.size());
  } catch (const Overloaded&) {
  }
  co_return check;
}

net::awaitable<void> Accounts::give_back(const Tally& tally) {
  try {
    co_await limiter_.settle(tally);
  } catch (const std::exception&) {
  }
}

net::awaitable<void> Accounts::purge_expired() {
  auto query = [](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared(detail::name(db::sql::kPurgeSessions));
    tx.exec_prepared(detail::name(db::sql::kPurgeRateLimits));
    tx.exec_prepared(detail::name(db::sql::kPurgeMfaTokens));
    tx.exec_prepared(detail::name(db::sql::kPurgeEmailTokens));
  };
  co_await db_.run(std::move(query));
}

}  // namespace authd::auth
