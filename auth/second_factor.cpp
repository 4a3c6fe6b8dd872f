#include <chrono>
#include <exception>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "auth/account_rows.hpp"
#include "auth/accounts.hpp"
#include "auth/session_token.hpp"
#include "auth/validation.hpp"
#include "db/statements.hpp"
#include "mfa/base32.hpp"
#include "mfa/qr.hpp"
#include "mfa/recovery.hpp"
#include "mfa/totp.hpp"

// The second factor (API.md): TOTP secrets sealed at rest, recovery codes, and the second step
// of a login. Everything here runs on the DB threads in one transaction per request: codes are
// checked with the rows locked, so a step or a recovery code is accepted once across instances.
namespace authd::auth {

using detail::name;

namespace {

constexpr std::chrono::seconds kMfaTokenLifetime{300};
constexpr int kMfaTokenWrongCodes = 5;

Error not_configured() {
  return {ErrorKind::not_configured, "not_configured",
          "Second factors need AUTHD_SECRET_KEY, which this server does not have."};
}
Error invalid_code(ErrorKind kind = ErrorKind::invalid) {
  return {kind, "invalid_code", "The code is wrong, already used or expired."};
}
Error invalid_mfa_token() {
  return {ErrorKind::unauthenticated, "invalid_mfa_token",
          "The sign-in step has expired or is unknown; log in again."};
}

std::string seal_context(std::int64_t user_id) {
  return "totp:" + std::to_string(user_id);
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Replaces the user's recovery codes; the new ones, to be shown once.
std::vector<std::string> replace_recovery_codes(pqxx::work& tx, std::int64_t user_id) {
  std::vector<std::string> codes = mfa::new_recovery_codes();
  std::vector<std::string> hashes;
  for (const auto& code : codes) hashes.push_back(mfa::hash_recovery_code(code));
  tx.exec_prepared(name(db::sql::kRecoveryCodesDelete), user_id);
  tx.exec_prepared(name(db::sql::kRecoveryCodesInsert), user_id, text_array(hashes));
  return codes;
}

enum class Checked { ok, wrong, no_factor };

// The one code field of disable and new recovery codes: six digits are a TOTP code, anything
// else a recovery code.
struct EitherCode {
  std::string totp, recovery;
};
EitherCode either_code(std::string code) {
  if (code.find_first_not_of("0123456789 ") == std::string::npos) return {std::move(code), {}};
  return {{}, std::move(code)};
}

// A TOTP code (its step taken, once) or a recovery code (used up) of the user, inside tx with
// the rows locked. pending: the secret may be unconfirmed (confirmation), and recovery codes do
// not count.
Checked check_code(pqxx::work& tx, const mfa::Keyring& keyring, std::int64_t user_id,
                   std::string_view code, std::string_view recovery_code, bool pending) {
  const pqxx::result totp = tx.exec_prepared(name(db::sql::kTotpOf), user_id);
  if (totp.empty()) return Checked::no_factor;
  const bool confirmed = totp[0][1].as<bool>();
  if (confirmed == pending) return Checked::no_factor;
  if (!code.empty()) {
    const std::string sealed = totp[0][0].as<std::string>();
    auto secret = keyring.open(sealed, seal_context(user_id));
    if (!secret) throw std::runtime_error("a second-factor secret does not open with any key");
    const auto step = mfa::match_step(*secret, code, unix_now(), totp[0][2].as<std::int64_t>());
    bool taken = false;
    if (step) {
      taken = !tx.exec_prepared(name(db::sql::kTotpUseStep), user_id, *step).empty();
      // Sealed again under the current key once it opened with an old one (key rotation).
      if (taken && keyring.is_old(sealed)) {
        tx.exec_prepared(name(db::sql::kTotpReseal), user_id,
                         keyring.seal(*secret, seal_context(user_id)), sealed);
      }
    }
    OPENSSL_cleanse(secret->data(), secret->size());
    return taken ? Checked::ok : Checked::wrong;
  }
  if (!recovery_code.empty() && !pending) {
    const pqxx::result unused = tx.exec_prepared(name(db::sql::kRecoveryCodesUnused), user_id);
    for (const auto& row : unused) {
      const std::string stored = row[0].as<std::string>();
      if (mfa::recovery_code_matches(recovery_code, stored)) {
        tx.exec_prepared(name(db::sql::kRecoveryCodeUse), user_id, stored);
        return Checked::ok;
      }
    }
  }
  return Checked::wrong;
}

}  // namespace

net::awaitable<void> Accounts::count_failure(std::int64_t user_id) {
  std::vector<LimitKey> keys;
  keys.push_back({detail::login_account_key(user_id, {}), options_.account});
  co_await limiter_.count(std::move(keys));  // kept: a failed attempt
}

net::awaitable<LoginResult> Accounts::start_challenge(const User& user, const Tally& tally) {
  // The password was right: no failure, so this attempt is given back to both keys.
  co_await limiter_.settle(tally);
  LoginResult result{user, {}, {}, MfaChallenge{new_session_token(), {}}};
  const std::string token_hash = *token_hash_hex(result.mfa->token);
  const std::int64_t user_id = user.id;
  auto insert = [&token_hash, user_id](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx
        .exec_prepared1(name(db::sql::kMfaTokenInsert), token_hash, user_id,
                        static_cast<std::int64_t>(kMfaTokenLifetime.count()))[0]
        .as<std::string>();
  };
  result.mfa->expires_at = co_await db_.run(std::move(insert));
  co_return result;
}

net::awaitable<Result<TotpSetup>> Accounts::totp_setup(const Session& session, std::string password,
                                                       std::function<bool()> client_gone) {
  const mfa::Keyring* keys = keyring();
  if (!keys) co_return not_configured();
  const std::int64_t user_id = session.user.id;
  const std::string username = session.user.username;
  Result<std::monostate> proven =
      co_await prove_password(user_id, std::move(password), std::move(client_gone));
  if (auto* refused = std::get_if<Error>(&proven)) co_return std::move(*refused);
  std::vector<unsigned char> secret = mfa::new_secret();
  const std::string sealed = keys->seal(secret, seal_context(user_id));
  auto store = [&sealed, user_id](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return !tx.exec_prepared(name(db::sql::kTotpPending), user_id, sealed).empty();
  };
  const bool stored = co_await db_.run(std::move(store));
  TotpSetup setup{mfa::base32_encode(secret),
                  mfa::otpauth_uri(options_.totp_issuer, username, secret)};
  OPENSSL_cleanse(secret.data(), secret.size());
  if (!stored) {
    co_return Error{ErrorKind::conflict, "totp_enabled",
                    "A second factor is already enabled; disable it first."};
  }
  co_return setup;
}

net::awaitable<Result<std::string>> Accounts::totp_qr(const Session& session) {
  const mfa::Keyring* keys = keyring();
  if (!keys) co_return not_configured();
  const std::int64_t user_id = session.user.id;
  const std::string username = session.user.username;
  const std::string issuer = options_.totp_issuer;
  auto read = [keys, user_id, &username,
               &issuer](pqxx::connection& c) -> std::optional<std::string> {
    pqxx::work tx(c);
    const pqxx::result totp = tx.exec_prepared(name(db::sql::kTotpOf), user_id);
    tx.commit();
    if (totp.empty() || totp[0][1].as<bool>()) return std::nullopt;
    auto secret = keys->open(totp[0][0].as<std::string>(), seal_context(user_id));
    if (!secret) throw std::runtime_error("a second-factor secret does not open with any key");
    std::string svg = mfa::qr_svg(mfa::otpauth_uri(issuer, username, *secret));
    OPENSSL_cleanse(secret->data(), secret->size());
    return svg;
  };
  auto svg = co_await db_.run(std::move(read));
  if (!svg) co_return Error{ErrorKind::not_found, "not_found", "No second factor is pending."};
  co_return std::move(*svg);
}

net::awaitable<Result<std::vector<std::string>>> Accounts::totp_confirm(const Session& session,
                                                                        std::string code) {
  const mfa::Keyring* keys = keyring();
  if (!keys) co_return not_configured();
  const std::int64_t user_id = session.user.id;
  const std::string keep = session.token_hash_hex;
  struct Outcome {
    Checked checked = Checked::no_factor;
    std::vector<std::string> codes;
  };
  auto confirm = [&](pqxx::connection& c) {
    pqxx::work tx(c);
    Outcome out;
    out.checked = check_code(tx, *keys, user_id, code, {}, true);
    if (out.checked != Checked::ok) return out;
    out.codes = replace_recovery_codes(tx, user_id);
    tx.exec_prepared(name(db::sql::kSessionAal), keep, "aal2");
    tx.exec_prepared(name(db::sql::kDeleteOtherSessions), user_id, keep);
    tx.commit();
    return out;
  };
  Outcome outcome = co_await db_.run(std::move(confirm));
  if (outcome.checked == Checked::no_factor) {
    co_return Error{ErrorKind::not_found, "not_found", "No second factor is pending."};
  }
  if (outcome.checked == Checked::wrong) co_return invalid_code();
  sessions_.drop_user(user_id);
  co_return std::move(outcome.codes);
}

net::awaitable<Result<std::monostate>> Accounts::totp_disable(const Session& session,
                                                              std::string password,
                                                              std::string code,
                                                              std::function<bool()> client_gone) {
  const mfa::Keyring* keys = keyring();
  if (!keys) co_return not_configured();
  const std::int64_t user_id = session.user.id;
  const std::string keep = session.token_hash_hex;
  Result<std::monostate> proven =
      co_await prove_password(user_id, std::move(password), std::move(client_gone));
  if (auto* refused = std::get_if<Error>(&proven)) co_return std::move(*refused);
  const EitherCode given = either_code(std::move(code));
  auto disable = [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const Checked checked = check_code(tx, *keys, user_id, given.totp, given.recovery, false);
    if (checked != Checked::ok) return checked;
    tx.exec_prepared(name(db::sql::kTotpDelete), user_id);
    tx.exec_prepared(name(db::sql::kRecoveryCodesDelete), user_id);
    tx.exec_prepared(name(db::sql::kSessionAal), keep, "aal1");
    tx.exec_prepared(name(db::sql::kDeleteOtherSessions), user_id, keep);
    tx.commit();
    return checked;
  };
  const Checked checked = co_await db_.run(std::move(disable));
  if (checked != Checked::ok) {
    co_await count_failure(user_id);
    co_return invalid_code();
  }
  sessions_.drop_user(user_id);
  co_return std::monostate{};
}

net::awaitable<Result<std::vector<std::string>>> Accounts::renew_recovery_codes(
    const Session& session, std::string password, std::string code,
    std::function<bool()> client_gone) {
  const mfa::Keyring* keys = keyring();
  if (!keys) co_return not_configured();
  const std::int64_t user_id = session.user.id;
  Result<std::monostate> proven =
      co_await prove_password(user_id, std::move(password), std::move(client_gone));
  if (auto* refused = std::get_if<Error>(&proven)) co_return std::move(*refused);
  const EitherCode given = either_code(std::move(code));
  struct Outcome {
    Checked checked = Checked::no_factor;
    std::vector<std::string> codes;
  };
  auto renew = [&](pqxx::connection& c) {
    pqxx::work tx(c);
    Outcome out;
    out.checked = check_code(tx, *keys, user_id, given.totp, given.recovery, false);
    if (out.checked != Checked::ok) return out;
    out.codes = replace_recovery_codes(tx, user_id);
    tx.commit();
    return out;
  };
  Outcome outcome = co_await db_.run(std::move(renew));
  if (outcome.checked != Checked::ok) {
    co_await count_failure(user_id);
    co_return invalid_code();
  }
  co_return std::move(outcome.codes);
}

net::awaitable<Result<LoginResult>> Accounts::login_mfa(MfaAttempt attempt) {
  const mfa::Keyring* keys = keyring();
  if (!keys) co_return not_configured();
  const auto token_hash = token_hash_hex(attempt.mfa_token);
  if (!token_hash) co_return invalid_mfa_token();
  if (attempt.code.empty() == attempt.recovery_code.empty()) {
    co_return Error{ErrorKind::invalid, "invalid_code", "Send either a code or a recovery code."};
  }
  auto owner = [&token_hash](pqxx::connection& c) -> std::optional<std::int64_t> {
    pqxx::work tx(c);
    const pqxx::result rows =
        tx.exec_prepared(name(db::sql::kMfaTokenUser), *token_hash, kMfaTokenWrongCodes);
    tx.commit();
    if (rows.empty()) return std::nullopt;
    return rows[0][0].as<std::int64_t>();
  };
  const std::optional<std::int64_t> user_id = co_await db_.run(std::move(owner));
  if (!user_id) co_return invalid_mfa_token();

  // A code is a login attempt of the account, counted before it is checked.
  const std::string account_key = detail::login_account_key(*user_id, {});
  std::vector<LimitKey> keys_counted;
  keys_counted.push_back({account_key, options_.account});
  keys_counted.push_back({"login:" + address_key(attempt.client_address), options_.address});
  const Tally tally = co_await limiter_.count(std::move(keys_counted));
  const audit::Origin origin{attempt.client_address, attempt.user_agent, attempt.request_id};
  const auto mfa_event = [&](std::string_view outcome) {
    return audit::Event{audit::Type::mfa, *user_id, "self", origin, {{"outcome", outcome}}};
  };
  if (tally.over()) {
    co_await give_back(tally);
    ++counters_.limited;
    record(mfa_event("limited"));
    co_return detail::too_many_attempts(tally.retry_after());
  }
  struct Outcome {
    bool token_good = false;
    Checked checked = Checked::wrong;
    std::optional<User> user;
  };
  auto check = [&](pqxx::connection& c) {
    pqxx::work tx(c);
    Outcome out;
    // Locked: simultaneous attempts with one token take turns, so its bounds hold.
    const pqxx::result token =
        tx.exec_prepared(name(db::sql::kMfaTokenUser), *token_hash, kMfaTokenWrongCodes);
    if (token.empty() || token[0][0].as<std::int64_t>() != *user_id) return out;
    out.token_good = true;
    out.checked = check_code(tx, *keys, *user_id, attempt.code, attempt.recovery_code, false);
    if (out.checked == Checked::ok) {
      tx.exec_prepared(name(db::sql::kMfaTokenUsed), *token_hash);
      const pqxx::result user = tx.exec_prepared(name(db::sql::kUserById), *user_id);
      if (!user.empty()) out.user = detail::user_from(user[0]);
      if (!attempt.recovery_code.empty() && options_.audit) {
        audit::insert(
            tx, {audit::Event{audit::Type::recovery_code_used, *user_id, "self", origin, {}}});
      }
    } else {
      tx.exec_prepared(name(db::sql::kMfaTokenFailed), *token_hash);
      if (options_.audit) audit::insert(tx, {mfa_event("failed")});
    }
    tx.commit();
    return out;
  };
  std::exception_ptr failure;
  Outcome outcome;
  try {
    outcome = co_await db_.run(std::move(check));
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    co_await give_back(tally);
    std::rethrow_exception(failure);
  }
  if (!outcome.token_good) {
    co_await give_back(tally);
    co_return invalid_mfa_token();
  }
  if (outcome.checked != Checked::ok || !outcome.user) {
    if (options_.audit) options_.audit->written(audit::Type::mfa);
    ++counters_.bad_credentials;  // kept in the window: a failed login
    co_return invalid_code(ErrorKind::unauthenticated);
  }
  if (!attempt.recovery_code.empty() && options_.audit) {
    options_.audit->written(audit::Type::recovery_code_used);
  }
  LoginResult result = co_await start_session(*outcome.user, {}, std::nullopt, tally, account_key,
                                              origin, mfa_event("ok"), "aal2");
  ++counters_.ok;
  co_return result;
}

net::awaitable<Result<std::monostate>> Accounts::remove_totp(std::int64_t user_id,
                                                             audit::Event event) {
  const bool audited = options_.audit != nullptr;
  auto remove = [user_id, audited, event = std::move(event)](pqxx::connection& c) {
    pqxx::work tx(c);
    if (tx.exec_prepared(name(db::sql::kUserById), user_id).empty()) return false;
    tx.exec_prepared(name(db::sql::kTotpDelete), user_id);
    tx.exec_prepared(name(db::sql::kRecoveryCodesDelete), user_id);
    tx.exec_prepared(name(db::sql::kDeleteUserSessions), user_id);
    if (audited) audit::insert(tx, {event});
    tx.commit();
    return true;
  };
  const bool known = co_await db_.run(std::move(remove));
  if (!known) co_return Error{ErrorKind::not_found, "not_found", "There is no such user."};
  if (audited) options_.audit->written(audit::Type::admin_totp_removed);
  sessions_.drop_user(user_id);
  co_return std::monostate{};
}

}  // namespace authd::auth
