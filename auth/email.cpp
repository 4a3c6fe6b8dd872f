#include <chrono>
#include <exception>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "auth/account_rows.hpp"
#include "auth/accounts.hpp"
#include "auth/session_token.hpp"
#include "auth/validation.hpp"
#include "db/statements.hpp"
#include "mail/message.hpp"

// Mail (API.md): email verification, password recovery, email change. A token and its mail are
// written by one statement; the outbox's sender (mail/outbox) delivers it later, so no request
// ever waits for SMTP.
namespace authd::auth {

using detail::name;

namespace {

constexpr std::chrono::seconds kVerifyLifetime{24 * 3600};
constexpr std::chrono::seconds kResetLifetime{3600};
// A recovery request answers no sooner than this, known address or not.
constexpr std::chrono::milliseconds kRecoveryFloor{150};
const RateLimit kRecoveryLimit{5, std::chrono::hours(1)};
const RateLimit kResendLimit{5, std::chrono::hours(1)};

Error not_configured() {
  return {ErrorKind::not_configured, "not_configured",
          "Mail is not set up on this server (AUTHD_SMTP_URL)."};
}
Error invalid_token() {
  return {ErrorKind::invalid, "invalid_token", "The link is unknown, used or expired."};
}

struct Mail {
  std::string kind;  // verify, reset, change, notice
  std::string subject;
  std::string body;
};

Mail verification_mail(const std::string& link) {
  return {
      "verify", "Confirm your email address",
      "Hello,\n\nplease confirm this email address by opening the link below within 24 hours:\n\n" +
          link +
          "\n\nIf you did not sign up, ignore this mail: nothing happens without the link.\n"};
}

Mail reset_mail(const std::string& link) {
  return {"reset", "Reset your password",
          "Hello,\n\nsomeone asked to reset the password of the account with this address. To "
          "choose a new password, open the link below within an hour:\n\n" +
              link + "\n\nIf it was not you, ignore this mail: your password stays as it is.\n"};
}

Mail change_mail(const std::string& link) {
  return {"change", "Confirm your new email address",
          "Hello,\n\nto make this the address of your account, open the link below within 24 "
          "hours:\n\n" +
              link + "\n\nIf you did not ask for this, ignore this mail: nothing changes.\n"};
}

Mail notice_mail(const std::string& new_email) {
  return {"notice", "Your email address is being changed",
          "Hello,\n\nsomeone signed in to your account asked to change its address to " +
              new_email +
              ". It changes only when that address confirms.\n\nIf it was not you, change your "
              "password now: whoever asked knows it.\n"};
}

}  // namespace

net::awaitable<void> Accounts::queue_verification(const User& user) {
  const MailOptions& mail = *options_.mail;
  const std::string token = new_session_token();
  const std::string hash = *token_hash_hex(token);
  const Mail m = verification_mail(mail.public_url + "/verify?token=" + token);
  const std::string id = mail::new_message_id(mail.from);
  const std::string text = mail::compose(mail.from, "@RECIPIENT@", m.subject, id, m.body);
  // On the event loop's connection, right after the sign-up's own insert: no thread handoff. A
  // write whose outcome is unknown is not retried (a second token and mail would be harmless, but
  // resend is there for that).
  co_await requests_.exec(db::sql::kTokenMailForUser,
                          detail::params(std::to_string(user.id), hash, m.kind, std::string(),
                                         std::to_string(kVerifyLifetime.count()), id, text));
  mail.queued();
}

net::awaitable<Result<std::monostate>> Accounts::resend_verification(const Session& session) {
  if (!options_.mail) co_return not_configured();
  const User user = session.user;
  std::vector<LimitKey> keys;
  keys.push_back({"verify:user:" + std::to_string(user.id), kResendLimit});
  const Tally tally = co_await limiter_.count(std::move(keys));
  if (tally.over()) {
    co_await give_back(tally);
    co_return Error{ErrorKind::limited, "too_many_attempts", "Too many mails; try again later.",
                    tally.retry_after()};
  }
  const std::int64_t user_id = user.id;
  auto verified = [user_id](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result rows = tx.exec_prepared(name(db::sql::kUserEmail), user_id);
    return !rows.empty() && rows[0][1].as<bool>();
  };
  const bool already = co_await db_.run(std::move(verified));
  if (!already) co_await queue_verification(user);
  co_return std::monostate{};
}

net::awaitable<Result<std::monostate>> Accounts::request_recovery(std::string email,
                                                                  std::string client_address,
                                                                  audit::Event event) {
  if (!options_.mail) co_return not_configured();
  if (auto problem = check_email(email)) co_return detail::invalid_field(*problem);
  const auto started = std::chrono::steady_clock::now();
  std::vector<LimitKey> keys;
  keys.push_back({"recovery:email:" + ascii_lower(email), kRecoveryLimit});
  keys.push_back({"recovery:" + address_key(client_address), kRecoveryLimit});
  const Tally tally = co_await limiter_.count(std::move(keys));
  if (tally.over()) {
    co_await give_back(tally);
    co_return Error{ErrorKind::limited, "too_many_attempts",
                    "Too many recovery requests; try again later.", tally.retry_after()};
  }
  const MailOptions& mail = *options_.mail;
  const std::string token = new_session_token();
  const std::string hash = *token_hash_hex(token);
  const Mail m = reset_mail(mail.public_url + "/reset?token=" + token);
  const std::string id = mail::new_message_id(mail.from);
  const std::string text = mail::compose(mail.from, "@RECIPIENT@", m.subject, id, m.body);
  // One statement whether or not the address is known: it writes the token and the mail only
  // when a user has it.
  const bool audited = options_.audit != nullptr;
  auto write = [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const auto written =
        tx.exec_prepared1(name(db::sql::kTokenMailForEmail), email, hash, m.kind, "",
                          static_cast<std::int64_t>(kResetLifetime.count()), id, text)[0]
            .as<std::int64_t>();
    if (written > 0 && audited) {
      // The user the request named, recorded with its token.
      event.user_id = tx.exec_prepared1(name(db::sql::kUserByEmail), email)[0].as<std::int64_t>();
      audit::insert(tx, {event});
    }
    tx.commit();
    return written;
  };
  const std::int64_t known = co_await db_.run(std::move(write));
  if (known > 0) {
    mail.queued();
    if (audited) options_.audit->written(audit::Type::recovery_requested);
  }
  net::steady_timer floor(co_await net::this_coro::executor, started + kRecoveryFloor);
  co_await floor.async_wait(net::use_awaitable);
  co_return std::monostate{};
}

net::awaitable<Result<std::monostate>> Accounts::complete_recovery(std::string token,
                                                                   std::string new_password,
                                                                   audit::Event event) {
  if (!options_.mail) co_return not_configured();
  if (auto problem = check_password(new_password)) co_return detail::invalid_field(*problem);
  const auto hash = token_hash_hex(token);
  if (!hash) co_return invalid_token();
  auto kind = [&hash](pqxx::connection& c) -> std::string {
    pqxx::nontransaction tx(c);
    const pqxx::result rows = tx.exec_prepared(name(db::sql::kTokenKind), *hash);
    return rows.empty() ? std::string() : rows[0][0].as<std::string>();
  };
  const std::string found = co_await db_.run(std::move(kind));
  if (found != "reset") co_return invalid_token();
  PasswordHash fresh = salted_hash(options_.iterations);
  fresh.key =
      co_await hashes_.derive(std::move(new_password), fresh.salt, fresh.iterations, kKeyBytes);
  const std::string phc = format_phc(fresh);
  OPENSSL_cleanse(fresh.key.data(), fresh.key.size());
  auto reset = [&](pqxx::connection& c) -> std::optional<std::int64_t> {
    pqxx::work tx(c);
    const pqxx::result used = tx.exec_prepared(name(db::sql::kUseEmailToken), *hash, "reset");
    if (used.empty()) return std::nullopt;  // taken meanwhile
    const auto user_id = used[0][0].as<std::int64_t>();
    tx.exec_prepared(name(db::sql::kResetPassword), user_id, phc);
    if (options_.audit) {
      event.user_id = user_id;
      audit::insert(tx, {event});
    }
    tx.commit();
    return user_id;
  };
  const auto user_id = co_await db_.run(std::move(reset));
  if (!user_id) co_return invalid_token();
  if (options_.audit) options_.audit->written(audit::Type::recovery_completed);
  sessions_.drop_user(*user_id);
  co_return std::monostate{};
}

net::awaitable<Result<std::monostate>> Accounts::verify_email(std::string token,
                                                              audit::Event event) {
  const auto hash = token_hash_hex(token);
  if (!hash) co_return invalid_token();
  enum class Outcome { done, invalid, taken };
  struct Done {
    Outcome outcome = Outcome::invalid;
    std::int64_t user_id = 0;
  };
  const bool audited = options_.audit != nullptr;
  auto verify = [&hash, &event, audited](pqxx::connection& c) {
    pqxx::work tx(c);
    Done out;
    for (const char* kind : {"verify", "change"}) {
      const pqxx::result used = tx.exec_prepared(name(db::sql::kUseEmailToken), *hash, kind);
      if (used.empty()) continue;
      out.user_id = used[0][0].as<std::int64_t>();
      event.user_id = out.user_id;
      if (used[0][1].is_null()) {
        tx.exec_prepared(name(db::sql::kMarkVerified), out.user_id);
        event.type = audit::Type::email_verified;
      } else {
        event.type = audit::Type::email_changed;
        const std::string address = used[0][1].as<std::string>();
        if (!tx.exec_prepared(name(db::sql::kEmailTaken), address, out.user_id).empty()) {
          out.outcome = Outcome::taken;
          return out;  // rolled back: the token stays good
        }
        try {
          tx.exec_prepared(name(db::sql::kChangeEmail), out.user_id, address);
        } catch (const pqxx::unique_violation&) {
          out.outcome = Outcome::taken;
          return out;
        }
      }
      if (audited) audit::insert(tx, {event});
      tx.commit();
      out.outcome = Outcome::done;
      return out;
    }
    return out;
  };
  const Done done = co_await db_.run(std::move(verify));
  if (done.outcome == Outcome::invalid) co_return invalid_token();
  if (done.outcome == Outcome::taken) {
    co_return Error{ErrorKind::conflict, "email_taken", "That address belongs to another account."};
  }
  sessions_.drop_user(done.user_id);
  if (audited) options_.audit->written(event.type);
  co_return std::monostate{};
}

net::awaitable<Result<std::monostate>> Accounts::change_email(const Session& session,
                                                              std::string password,
                                                              std::string new_email,
                                                              std::function<bool()> client_gone) {
  if (!options_.mail) co_return not_configured();
  if (auto problem = check_email(new_email)) co_return detail::invalid_field(*problem);
  const std::int64_t user_id = session.user.id;
  const std::string old_email = session.user.email;
  Result<std::monostate> proven =
      co_await prove_password(user_id, std::move(password), std::move(client_gone));
  if (auto* refused = std::get_if<Error>(&proven)) co_return std::move(*refused);
  const MailOptions& mail = *options_.mail;
  const std::string token = new_session_token();
  const std::string hash = *token_hash_hex(token);
  const Mail confirm = change_mail(mail.public_url + "/verify?token=" + token);
  const Mail notice = notice_mail(new_email);
  const std::string confirm_id = mail::new_message_id(mail.from);
  const std::string notice_id = mail::new_message_id(mail.from);
  const std::string confirm_text =
      mail::compose(mail.from, "@RECIPIENT@", confirm.subject, confirm_id, confirm.body);
  const std::string notice_text =
      mail::compose(mail.from, old_email, notice.subject, notice_id, notice.body);
  auto write = [&](pqxx::connection& c) {
    pqxx::work tx(c);
    if (!tx.exec_prepared(name(db::sql::kEmailTaken), new_email, user_id).empty()) return false;
    tx.exec_prepared(name(db::sql::kTokenMailForUser), user_id, hash, confirm.kind, new_email,
                     static_cast<std::int64_t>(kVerifyLifetime.count()), confirm_id, confirm_text);
    tx.exec_prepared(name(db::sql::kNoticeMail), user_id, notice_id, notice.kind, old_email,
                     notice_text);
    tx.commit();
    return true;
  };
  const bool queued = co_await db_.run(std::move(write));
  if (!queued) {
    co_return Error{ErrorKind::conflict, "email_taken", "That address belongs to another account."};
  }
  mail.queued();
  co_return std::monostate{};
}

}  // namespace authd::auth
