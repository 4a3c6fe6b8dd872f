#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mfa/sealed.hpp"
#include "server/cidr.hpp"

namespace authd::server {

struct RateLimit {
  std::uint32_t count = 0;
  std::chrono::seconds window{0};
};

// auto: Secure under TLS, authd's own or a trusted proxy's (X-Forwarded-Proto: https).
enum class CookieSecure { automatic, on, off };

// The shortest AUTHD_ADMIN_TOKEN accepted: anything shorter is guessable.
inline constexpr std::size_t kMinAdminTokenLength = 32;

struct Config {
  std::string listen_host = "0.0.0.0";
  std::uint16_t listen_port = 8080;
  std::string database_url;
  unsigned io_threads = 1;
  unsigned hash_threads = 1;
  std::size_t hash_queue = 256;
  std::size_t db_pool_size = 2;
  std::uint32_t pbkdf2_iterations = 600000;
  std::chrono::seconds session_ttl{24 * 3600};
  std::string backup_dir = "./backups";
  std::optional<std::string> admin_token;
  RateLimit login_limit_account{10, std::chrono::minutes(15)};
  RateLimit login_limit_address{100, std::chrono::minutes(15)};
  std::vector<Cidr> trusted_proxies;
  bool legacy_routes = true;
  bool durable_sessions = true;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  bool log_json = false;
  std::optional<std::string> bootstrap_admin_email;
  std::optional<std::string> bootstrap_admin_password;
  std::optional<RateLimit> signup_limit_address =
      RateLimit{100, std::chrono::hours(1)};  // off: none
  std::size_t max_connections = 10000;
  std::chrono::seconds db_timeout{5};
  std::vector<std::string> allowed_origins;  // "https://app.example.com", as browsers send Origin
  CookieSecure cookie_secure = CookieSecure::automatic;
  std::size_t backup_keep = 30;
  std::chrono::seconds backup_timeout{600};
  std::chrono::seconds audit_retention{90 * 24 * 3600};
  // The front door (frontdoor/, server/routes/authz.cpp).
  std::optional<std::string> cookie_domain;  // "example.com": the cookie's Domain attribute
  std::optional<std::string> access_rules;   // path of the rules file
  std::optional<std::string> portal_url;     // "https://auth.example.com", no trailing slash
  std::size_t session_cache = 100000;        // cached sessions per instance; 0: none
  std::chrono::seconds session_cache_ttl{300};
  // The second factor (mfa/): base64 of 32 bytes each, checked when read.
  std::optional<std::string> secret_key;
  std::vector<std::string> old_secret_keys;  // still open what they sealed
  std::string totp_issuer = "authd";
  // Mail (mail/, auth/email.cpp).
  std::optional<std::string> smtp_url;
  std::string mail_from = "authd@localhost";
  std::optional<std::string> public_url;
  bool require_verified_email = false;
};

// One setting as the user sees it: the environment variable, its flag, default and meaning.
struct SettingInfo {
  std::string_view env;
  std::string_view default_text;
  std::string_view help;
};
const std::vector<SettingInfo>& settings();

// A setting that cannot be used: the message names it and never repeats a secret value.
struct ConfigError {
  std::string message;
};

// Pure parsers, exposed for tests.
// AUTHD_SECRET_KEY: 32 bytes in standard base64 (padded or not); nullopt otherwise.
std::optional<mfa::SecretKey> parse_secret_key(std::string_view base64);
std::optional<std::chrono::seconds> parse_duration(std::string_view text);
std::optional<RateLimit> parse_rate_limit(std::string_view text);
std::optional<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text);

// Settings from the environment, overridden by flags (--db-pool-size 4 or --db-pool-size=4).
// Arguments that are not settings are returned in rest, in order. cores is the default for
// the thread counts.
struct ParsedConfig {
  Config config;
  std::vector<std::string> rest;
};
std::variant<ParsedConfig, ConfigError> parse_config(const std::map<std::string, std::string>& env,
                                                     const std::vector<std::string>& args,
                                                     unsigned cores);

// The process environment's AUTHD_* variables.
std::map<std::string, std::string> authd_environment();

}  // namespace authd::server
