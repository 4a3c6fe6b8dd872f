#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include "auth/account_rows.hpp"
#include "auth/accounts.hpp"
#include "auth/validation.hpp"
#include "db/statements.hpp"

namespace authd::auth {
namespace {

using detail::params;

// What the login lookup found: the user and its stored hash, if the identifier names one.
struct LoginLookup {
  std::optional<User> user;
  std::string password_hash;
  bool two_factor = false;
  bool disabled = false;
};

}  // namespace

audit::Event Accounts::login_event(const Credentials& credentials, std::optional<std::int64_t> user,
                                   std::string_view outcome) {
  audit::Event event{audit::Type::login,
                     user,
                     "self",
                     {credentials.client_address, credentials.user_agent, credentials.request_id},
                     {{"outcome", outcome}}};
  // Who was tried, when it names nobody: an identifier, never the password.
  if (!user) event.detail["identifier"] = credentials.identifier;
  return event;
}

net::awaitable<Result<LoginResult>> Accounts::login(Credentials credentials) {
  // Refused by form alone, before any lookup or hash: nothing reaches PostgreSQL altered.
  if (auto problem = check_login(credentials.identifier)) co_return detail::invalid_field(*problem);
  if (!utf8_length(credentials.password)) co_return detail::password_not_utf8();

  // The lookup and the count in one round trip, before the hash, right password or not: of
  // many simultaneous guesses only the limit's worth is ever checked, and a limited account is no
  // password oracle.
  const auto& statement =
      credentials.by_email ? db::sql::kLoginCountByEmail : db::sql::kLoginCountByUsername;
  // Named first: GCC 12 destroys a braced temporary coroutine argument twice.
  LimitKey address{"login:" + address_key(credentials.client_address), options_.address};
  auto counted = co_await limiter_.count_login(statement, credentials.identifier, options_.account,
                                               std::move(address));
  const Tally tally = std::move(counted.tally);
  LoginLookup lookup;
  if (!counted.rows->is_null(0, 4)) {
    lookup.user = detail::user_from(*counted.rows, 0, 4);
    lookup.password_hash = counted.rows->string(0, 10);
    lookup.two_factor = counted.rows->boolean(0, 11);
    lookup.disabled = counted.rows->boolean(0, 12);
  }
  const std::string account_key = detail::login_account_key(
      lookup.user ? std::optional<std::int64_t>(lookup.user->id) : std::nullopt,
      credentials.identifier);
  if (tally.over()) {
    // Refused unchecked, so it is given back: a window counts the attempts that were checked
    // (failed or still running), and a key that is over stays at its limit until the window
    // ends, so the next attempt is refused too.
    co_await give_back(tally);
    ++counters_.limited;
    record(login_event(credentials, user_id_of(lookup.user), "limited"));
    co_return detail::too_many_attempts(tally.retry_after());
  }

  std::optional<StoredHash> stored;
  if (lookup.user) stored = parse_stored_hash(lookup.password_hash);
  PasswordCheck check;
  std::exception_ptr failure;
  try {
    check = co_await verify_attempt(std::move(credentials.password), stored,
                                    std::move(credentials.client_gone));
  } catch (const Overloaded&) {
    ++counters_.overloaded;
    failure = std::current_exception();
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    // Not checked (queue full, client gone): no verdict, so the attempt is given back.
    co_await give_back(tally);
    std::rethrow_exception(failure);
  }

  if (!check.matched) {
    ++counters_.bad_credentials;
    record(login_event(credentials, user_id_of(lookup.user), "failed"));
    co_return detail::invalid_credentials();
  }
  if (lookup.disabled) {
    // Told only after the right password, like an unverified address.
    co_await give_back(tally);
    record(login_event(credentials, lookup.user->id, "disabled"));
    co_return Error{ErrorKind::forbidden, "account_disabled",
                    "This account has been disabled by an administrator."};
  }
  if (options_.mail && options_.mail->require_verified && !lookup.user->email_verified) {
    // Told only after the right password: the answer reveals nothing to a guesser.
    co_await give_back(tally);
    co_return Error{ErrorKind::forbidden, "email_not_verified",
                    "Confirm your email address first (the link in the mail; resend if lost)."};
  }
  if (lookup.two_factor) {
    // Half proven: nothing is cleared until the second factor is shown, so new challenges do not
    // reset the count that wrong codes add to.
    LoginResult challenge = co_await start_challenge(*lookup.user, tally);
    record(login_event(credentials, lookup.user->id, "second_factor"));
    co_return challenge;
  }
  // Proven: the account's failures end and the address gets this attempt back, with the new
  // session.
  const audit::Origin origin{credentials.client_address, credentials.user_agent,
                             credentials.request_id};
  LoginResult result =
      co_await start_session(*lookup.user, lookup.password_hash, check.upgraded, tally, account_key,
                             origin, login_event(credentials, lookup.user->id, "ok"));
  ++counters_.ok;
  co_return result;
}

}  // namespace authd::auth
