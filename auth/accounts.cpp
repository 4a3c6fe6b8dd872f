#include "auth/accounts.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <pqxx/nontransaction>

#include "auth/account_rows.hpp"
#include "db/statements.hpp"

namespace authd::auth {
namespace {

// A copy of a password for a job on the hash pool, wiped when the job is done with it.
struct WipedOnExit {
  explicit WipedOnExit(std::string_view from) : text(from) {}
  WipedOnExit(const WipedOnExit&) = delete;
  WipedOnExit(WipedOnExit&& other) noexcept : text(std::move(other.text)) {
    OPENSSL_cleanse(other.text.data(), other.text.capacity());
  }
  ~WipedOnExit() { OPENSSL_cleanse(text.data(), text.capacity()); }
  std::string text;
};

}  // namespace

Accounts::Accounts(db::DbExecutor& db, db::AsyncDb& requests, HashPool& hashes,
                   AccountsOptions options)
    : db_(db),
      requests_(requests),
      hashes_(hashes),
      limiter_(requests),
      options_(options),
      dummy_(*parse_phc(dummy_phc(std::max<std::uint32_t>(options.iterations, 1)))),
      sessions_(options.session_cache, options.session_cache_ttl) {}

net::awaitable<std::optional<std::string>> Accounts::upgraded_hash(std::string password) {
  try {
    PasswordHash upgraded = salted_hash(options_.iterations);
    upgraded.key =
        co_await hashes_.derive(std::move(password), upgraded.salt, upgraded.iterations, kKeyBytes);
    std::string phc = format_phc(upgraded);
    OPENSSL_cleanse(upgraded.key.data(), upgraded.key.size());
    co_return phc;
  } catch (const std::exception&) {
    // The upgrade is opportunistic: the next login tries again.
  }
  co_return std::nullopt;
}

net::awaitable<Accounts::PasswordCheck> Accounts::verify_attempt(
    std::string password, const std::optional<StoredHash>& stored,
    std::function<bool()> client_gone) {
  if (stored && std::holds_alternative<ImportedHash>(*stored)) {
    PasswordCheck imported = co_await verify_imported_attempt(
        std::move(password), std::get<ImportedHash>(*stored), std::move(client_gone));
    co_return imported;
  }
  const bool known = stored.has_value();
  const PasswordHash& against = known ? std::get<PasswordHash>(*stored) : dummy_;
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
    check.upgraded = co_await upgraded_hash(std::move(password));
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

net::awaitable<Accounts::PasswordCheck> Accounts::verify_imported_attempt(
    std::string password, const ImportedHash& stored, std::function<bool()> client_gone) {
  const bool may_match = is_printable_utf8(password);
  PasswordCheck check;
  {
    auto verify = [attempt = WipedOnExit{password}, stored,
                   gone = std::move(client_gone)]() -> bool {
      // As derive does: a client that left before its hash starts is not hashed.
      if (gone && gone()) throw ClientGone("the client left before its hash started");
      return verify_imported(attempt.text, stored);
    };
    const bool verified = co_await hashes_.run(std::move(verify));
    check.matched = verified && may_match;
  }
  if (check.matched) {
    check.upgraded = co_await upgraded_hash(std::move(password));
    co_return check;
  }
  // A wrong password: the configured cost on the dummy as well, so it is answered no sooner than
  // an unknown user whatever the format costs. Only PBKDF2-SHA256 counts in the same unit; for it
  // the dummy makes up the difference, as for authd's own hashes. Not abandoned, and a full queue
  // does not turn the 401 into a 503.
  std::uint64_t padding = options_.iterations;
  if (const auto* derived = std::get_if<DerivedKeyHash>(&stored.params)) {
    const bool same_unit =
        stored.format != ImportedFormat::werkzeug_scrypt && derived->digest == "sha256";
    if (same_unit) padding -= std::min<std::uint64_t>(padding, derived->cost);
  }
  if (padding == 0) {
    OPENSSL_cleanse(password.data(), password.size());
    co_return check;
  }
  try {
    std::vector<unsigned char> wasted = co_await hashes_.derive(
        std::move(password), dummy_.salt, static_cast<std::uint32_t>(padding), kKeyBytes);
    OPENSSL_cleanse(wasted.data(), wasted.size());
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
