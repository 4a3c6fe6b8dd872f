#pragma once

#include <chrono>
#include <optional>
#include <string>

// One mail over SMTP with libcurl (blocking: the outbox's own thread calls it). smtp://host:port
// uses STARTTLS when the server offers it (?starttls=required insists); smtps:// is TLS from the
// start; user:password@ in the URL logs in.
namespace authd::mail {

struct SmtpSettings {
  std::string url;   // as AUTHD_SMTP_URL gives it
  std::string from;  // AUTHD_MAIL_FROM
  std::chrono::seconds timeout{30};
};

// Whether the URL is one authd can use (scheme, host); never repeats the password.
bool valid_smtp_url(const std::string& url);

// nullopt: delivered. Else why not (no credentials in it).
std::optional<std::string> send(const SmtpSettings& settings, const std::string& recipient,
                                const std::string& message);

}  // namespace authd::mail
