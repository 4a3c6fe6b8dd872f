#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>

#include "audit/audit.hpp"
#include "auth/error.hpp"
#include "auth/hash_pool.hpp"
#include "auth/imported_hash.hpp"
#include "auth/last_seen.hpp"
#include "auth/limits.hpp"
#include "auth/password.hpp"
#include "auth/session_cache.hpp"
#include "auth/user.hpp"
#include "db/async_db.hpp"
#include "db/executor.hpp"
#include "db/pool.hpp"
#include "mfa/sealed.hpp"

namespace authd::auth {

namespace net = boost::asio;

// client_address keys the sign-up limit; client_gone is asked on the hash thread before the
// hash starts (true: ClientGone, nothing hashed). Both may be called from any thread.
struct SignupRequest {
  std::string username, email, password;
  std::string client_address = {};
  std::function<bool()> client_gone = [] { return false; };
};

// identifier is an email when by_email, else a username; client_address keys the address limit;
// client_gone as in SignupRequest.
struct Credentials {
  std::string identifier;
  bool by_email;
  std::string password;
  std::string client_address;
  std::function<bool()> client_gone = [] { return false; };
  std::string user_agent = {}, request_id = {};  // for the session's record and the audit trail
};

// A password proven for a user with a second factor: the token for POST /api/v1/login/mfa.
struct MfaChallenge {
  std::string token;
  std::string expires_at;
};

// A session (token, expires_at), or for a user with a second factor only the challenge.
struct LoginResult {
  User user;
  std::string token;
  std::string expires_at;
  std::optional<MfaChallenge> mfa;
};

// The second step of a login: the challenge's token and a TOTP code or a recovery code.
struct MfaAttempt {
  std::string mfa_token;
  std::string code;           // six digits, or empty
  std::string recovery_code;  // xxxxx-xxxxx, or empty
  std::string client_address;
  std::string user_agent = {}, request_id = {};
};

// Mail (auth/email.cpp): where links point and what mails say they are from.
struct MailOptions {
  std::string from;        // AUTHD_MAIL_FROM
  std::string public_url;  // AUTHD_PUBLIC_URL (or the portal's), no trailing slash
  bool require_verified = false;
  std::function<void()> queued = [] {};  // a mail was written to the outbox (wakes the sender)
};

struct TotpSetup {
  std::string secret;  // base32
  std::string otpauth_uri;
};

struct AccountsOptions {
  std::uint32_t iterations;  // PBKDF2 cost of new hashes; lower stored costs are upgraded
  std::chrono::seconds session_ttl;
  RateLimit account, address;  // login attempts not yet proven right, per account / client
  // true: a new session is committed as the server is configured (by default: after its WAL
  // flush). false: without waiting for that flush (PostgreSQL's
  // synchronous_commit=off for that one statement). A crash of PostgreSQL within about a
  // second may then forget sessions just made (their holders log in again); revocations,
  // sign-ups, password changes and failure counts commit as configured either way.
  bool durable_sessions = true;
  // Sign-ups per client address; nullopt: unlimited.
  std::optional<RateLimit> signup_address = RateLimit{100, std::chrono::hours(1)};
  // Sessions kept in memory for session checks (0: none), and the longest one is trusted unread.
  std::size_t session_cache = 0;
  std::chrono::seconds session_cache_ttl{300};
  // Seals second-factor secrets; null: no second factors (503 not_configured).
  std::shared_ptr<const mfa::Keyring> keyring{};
  std::string totp_issuer = "authd";
  // Mail; nullopt: no SMTP, so no verification and no recovery (503 not_configured).
  std::optional<MailOptions> mail{};
  // Where logins' audit events go that are not written with a session; null: nowhere.
  audit::Trail* audit = nullptr;
};

// Login outcomes since start, for /metrics.
struct LoginCounters {
  std::atomic<std::uint64_t> ok{0}, bad_credentials{0}, limited{0}, overloaded{0},
      sessions_created{0}, signups_limited{0};
};

// Sign-up, login with failure limits, sessions and password changes. Refusals caused by the
// request come back as Error; infrastructure failures are exceptions: db::DatabaseUnavailable,
// db::PoolExhausted, Overloaded when the hashing queue is full, and ClientGone when the client
// left before its hash started (send nothing). Hashing runs on the HashPool
// and never while a database connection is held. The statements of sign-up, login, session
// checks and logout run on the event loop's own connections (AsyncDb); the rarer ones on the DB
// threads.
class Accounts {
 public:
  Accounts(db::DbExecutor& db, db::AsyncDb& requests, HashPool& hashes, AccountsOptions options);
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  // 400 invalid_username / invalid_email / invalid_password, 409 username_taken / email_taken,
  // 429 too_many_signups past the sign-up limit of the client address.
  net::awaitable<Result<User>> signup(SignupRequest request);

  // 400 invalid_login (identifier over 254 bytes, not UTF-8 or with a control character; no
  // hash), 400 invalid_password (password not UTF-8), 401 invalid_credentials (wrong password
  // and unknown user alike), 429 too_many_attempts. Every attempt is counted against the
  // account and the client address before its hash starts; a success clears the account's
  // count and gives the address its attempt back.
  net::awaitable<Result<LoginResult>> login(Credentials credentials);

  // nullopt for an unknown, expired or malformed token. Always read from the database.
  net::awaitable<std::optional<Session>> authenticate(std::string_view token);

  // A session check: from the session cache when it has the token (fresh: never), else read
  // from the database and cached. Null for an unknown, expired or malformed token.
  net::awaitable<std::shared_ptr<const CachedSession>> check_session(std::string_view token,
                                                                     bool fresh = false);
  SessionCache& session_cache() { return sessions_; }
  LastSeen& last_seen() { return last_seen_; }

  // The user of the session that ended, if one did.
  net::awaitable<std::optional<std::int64_t>> logout(std::string_view token);

  // 401 invalid_credentials for a wrong current password, 400 invalid_password for a bad new
  // one (or a current one that is not UTF-8), 429 too_many_attempts: the current password is a
  // login attempt of the account and shares its limit. Ends every session of the user except
  // the given one. client_gone as in Credentials.
  net::awaitable<Result<std::monostate>> change_password(
      const Session& session, std::string current_password, std::string new_password,
      std::function<bool()> client_gone = [] { return false; });

  net::awaitable<void> logout_all(std::int64_t user_id);

  // The user's sessions as GET /api/v1/sessions shows them (this instance's last-seen marks
  // written first, so its own view is current); current marks the given session.
  net::awaitable<boost::json::array> list_sessions(const Session& session);
  // Ends one of the user's sessions by its public id; false when the user has none of that id.
  net::awaitable<bool> revoke_session(std::int64_t user_id, std::string public_id,
                                      audit::Event event);

  // Mail (auth/email.cpp). event: the audit event's origin and actor; its user and type (for
  // verification: email_verified or email_changed) are filled in and it is written with the
  // change.
  // 204 verified (or the address changed), 400 invalid_token, 409 email_taken (a change).
  net::awaitable<Result<std::monostate>> verify_email(std::string token, audit::Event event);
  // 202-worthy: a new verification mail unless verified; 429 past 5 an hour.
  net::awaitable<Result<std::monostate>> resend_verification(const Session& session);
  // The same answer, in about the same time, for known and unknown addresses; 400, 429, 503.
  net::awaitable<Result<std::monostate>> request_recovery(std::string email,
                                                          std::string client_address,
                                                          audit::Event event);
  // 400 invalid_token, 400 invalid_password; every session of the user ends.
  net::awaitable<Result<std::monostate>> complete_recovery(std::string token,
                                                           std::string new_password,
                                                           audit::Event event);
  // A confirmation link to the new address and a notice to the old; 400, 401, 409 email_taken.
  net::awaitable<Result<std::monostate>> change_email(const Session& session, std::string password,
                                                      std::string new_email,
                                                      std::function<bool()> client_gone);

  // The second factor (auth/second_factor.cpp). 503 not_configured without AUTHD_SECRET_KEY.
  // setup: 401 for a wrong password (a failed login), 409 totp_enabled; a pending secret.
  net::awaitable<Result<TotpSetup>> totp_setup(const Session& session, std::string password,
                                               std::function<bool()> client_gone);
  // The pending secret's otpauth URI as SVG; 404 not_found when nothing is pending.
  net::awaitable<Result<std::string>> totp_qr(const Session& session);
  // 400 invalid_code, 404 nothing pending; the 10 recovery codes. The session becomes aal2 and
  // the user's other sessions end.
  net::awaitable<Result<std::vector<std::string>>> totp_confirm(const Session& session,
                                                                std::string code);
  // password and a TOTP or recovery code: 401, 400 invalid_code; other sessions end.
  net::awaitable<Result<std::monostate>> totp_disable(const Session& session, std::string password,
                                                      std::string code,
                                                      std::function<bool()> client_gone);
  net::awaitable<Result<std::vector<std::string>>> renew_recovery_codes(
      const Session& session, std::string password, std::string code,
      std::function<bool()> client_gone);
  // 401 invalid_mfa_token, 401 invalid_code (a failed login of the account), 429.
  net::awaitable<Result<LoginResult>> login_mfa(MfaAttempt attempt);
  // An admin's removal: 404 for an unknown user; every session of the user ends.
  net::awaitable<Result<std::monostate>> remove_totp(std::int64_t user_id, audit::Event event);

  // Deletes expired sessions and limit windows that have passed.
  net::awaitable<void> purge_expired();

  const LoginCounters& counters() const { return counters_; }
  // The shared limiter, for the other attempts that count as logins (second factor, recovery).
  Limiter& limiter() { return limiter_; }

  // Blocking versions for the command line: they hash and query on the calling thread.
  // Its signup event (actor "cli" or "bootstrap") is written in the insert's transaction.
  static Result<User> create_user(db::ConnectionPool& pool, const SignupRequest& request,
                                  bool admin, std::uint32_t iterations, std::string_view actor);
  // False when no user has that email (compared case-insensitively).
  static bool grant_admin(db::ConnectionPool& pool, std::string_view email);

 private:
  // A password check: whether it matched and, when it did on a hash cheaper than the configured
  // cost, the replacement hash.
  struct PasswordCheck {
    bool matched = false;
    std::optional<std::string> upgraded;
  };

  net::awaitable<Result<User>> insert_user(const SignupRequest& request,
                                           const std::string& password_hash);
  // Checks password against stored (nullopt: unknown user, checked against the dummy). Costs at
  // least the configured iterations, whatever stored costs, so a cheap stored hash answers a
  // wrong password no faster than an unknown user. A password with a control character never
  // matches. A matching imported hash is upgraded. Throws Overloaded, ClientGone.
  net::awaitable<PasswordCheck> verify_attempt(std::string password,
                                               const std::optional<StoredHash>& stored,
                                               std::function<bool()> client_gone);
  // verify_attempt for a hash of another system, verified on the hash pool.
  net::awaitable<PasswordCheck> verify_imported_attempt(std::string password,
                                                        const ImportedHash& stored,
                                                        std::function<bool()> client_gone);
  // authd's own hash of a proven password at the configured cost; nullopt when it cannot be made
  // now (queue full): the next login tries again.
  net::awaitable<std::optional<std::string>> upgraded_hash(std::string password);
  // Limiter::settle for an attempt that got no verdict: best effort, a failure is ignored (the
  // window then keeps the attempt, which errs on the safe side).
  net::awaitable<void> give_back(const Tally& tally);
  // A session insert whose outcome is unknown: its row, or DatabaseUnavailable (503).
  net::awaitable<db::Rows> confirm_session(const std::string& token_hash);
  // A new session for a proven user, committing the hash upgrade with it when there is one, and
  // settling the login's count: the cleared key's window ends, the others get their attempt back.
  net::awaitable<LoginResult> start_session(const User& user, const std::string& old_hash,
                                            const std::optional<std::string>& upgraded,
                                            const Tally& tally, const std::string& cleared,
                                            const audit::Origin& origin, audit::Event event,
                                            std::string aal = "aal1");
  static audit::Event login_event(const Credentials& credentials, std::optional<std::int64_t> user,
                                  std::string_view outcome);
  static std::optional<std::int64_t> user_id_of(const std::optional<User>& user) {
    return user ? std::optional<std::int64_t>(user->id) : std::nullopt;
  }
  // An event for the trail, if there is one.
  void record(audit::Event event) const {
    if (options_.audit) options_.audit->record(std::move(event));
  }
  net::awaitable<void> queue_verification(const User& user);
  // A proven password of a user with a second factor: the challenge, no session.
  net::awaitable<LoginResult> start_challenge(const User& user, const Tally& tally);
  // The password of a signed-in user, checked as a login attempt of the account: counted, and
  // on success its failures cleared; wrong: the 401's detail.
  net::awaitable<Result<std::monostate>> prove_password(
      std::int64_t user_id, std::string password, std::function<bool()> client_gone,
      std::string_view wrong = "The password is wrong.");
  // A wrong second-factor code in a signed-in route: a failed login of the account.
  net::awaitable<void> count_failure(std::int64_t user_id);
  const mfa::Keyring* keyring() const { return options_.keyring.get(); }

  db::DbExecutor& db_;
  db::AsyncDb& requests_;
  HashPool& hashes_;
  Limiter limiter_;
  const AccountsOptions options_;
  // Verified against when the user is unknown or the stored hash unreadable: the same work as a
  // real check, so the answer's timing reveals nothing.
  const PasswordHash dummy_;
  LoginCounters counters_;
  SessionCache sessions_;
  LastSeen last_seen_;
};

}  // namespace authd::auth
