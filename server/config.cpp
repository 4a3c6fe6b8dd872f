#include "server/config.hpp"

#include <unistd.h>

#include <openssl/crypto.h>

#include <array>
#include <charconv>
#include <functional>

#include "auth/base64.hpp"
#include "auth/validation.hpp"
#include "mail/smtp.hpp"
#include "mfa/sealed.hpp"

extern char** environ;

namespace authd::server {
namespace {

template <class T>
std::optional<T> parse_number(std::string_view text, T min, T max) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

std::optional<bool> parse_switch(std::string_view text) {
  if (text == "on" || text == "true" || text == "1" || text == "yes") return true;
  if (text == "off" || text == "false" || text == "0" || text == "no") return false;
  return std::nullopt;
}

std::string flag_of(std::string_view env) {
  std::string flag = "--";
  for (char c : env.substr(6)) flag += c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return flag;
}

// "a, b,,c" → {"a", "b", "c"}: items trimmed of spaces, empty ones skipped.
std::vector<std::string_view> split_list(std::string_view rest) {
  std::vector<std::string_view> items;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// scheme://host[:port] with no path, as a browser's Origin header carries it.
bool valid_origin(std::string_view origin) {
  std::string_view rest;
  if (origin.starts_with("https://")) {
    rest = origin.substr(8);
  } else if (origin.starts_with("http://")) {
    rest = origin.substr(7);
  } else {
    return false;
  }
  if (rest.empty() || rest.front() == ':') return false;
  for (char ch : rest) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                    ch == '.' || ch == ':' || ch == '[' || ch == ']';
    if (!ok) return false;  // upper case too: browsers send origins lower-cased
  }
  return true;
}

// A host name for a cookie's Domain: labels of letters, digits and '-', at least two of them
// (a cookie for a whole top-level domain is refused by browsers anyway).
bool valid_cookie_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > 253 || domain.find('.') == std::string_view::npos) {
    return false;
  }
  std::size_t label = 0;
  for (char ch : domain) {
    if (ch == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// A problem with an address as a sign-up's email would have one.
bool check_email_address(std::string_view address) {
  return auth::check_email(address).has_value();
}

using Apply = std::function<bool(Config&, const std::string&)>;

struct Setting {
  SettingInfo info;
  Apply apply;  // false: the value is not acceptable
};

template <class T>
Apply number(T Config::*field, T min, T max) {
  return [=](Config& c, const std::string& v) {
    const auto n = parse_number<T>(v, min, max);
    if (n) c.*field = *n;
    return n.has_value();
  };
}

// An empty value means unset, so a compose file can pass a variable through unconditionally.
Apply optional_text(std::optional<std::string> Config::*field) {
  return [=](Config& c, const std::string& v) {
    if (v.empty()) {
      c.*field = std::nullopt;
    } else {
      c.*field = v;
    }
    return true;
  };
}

const std::vector<Setting>& setting_table() {
  static const std::vector<Setting> table = {
      {{"AUTHD_LISTEN", "0.0.0.0:8080", "address:port to listen on ([::]:8080 for IPv6)"},
       [](Config& c, const std::string& v) {
         const auto parsed = parse_listen(v);
         if (parsed) std::tie(c.listen_host, c.listen_port) = *parsed;
         return parsed.has_value();
       }},
      {{"AUTHD_DATABASE_URL", "(required)", "libpq URL or keyword string"},
       [](Config& c, const std::string& v) {
         c.database_url = v;
         return !v.empty();
       }},
      {{"AUTHD_IO_THREADS", "cores", "event-loop threads"},
       number<unsigned>(&Config::io_threads, 1, 256)},
      {{"AUTHD_HASH_THREADS", "cores", "PBKDF2 worker threads"},
       number<unsigned>(&Config::hash_threads, 1, 256)},
      {{"AUTHD_HASH_QUEUE", "256", "hashing jobs waiting at most; past it 503 + Retry-After"},
       number<std::size_t>(&Config::hash_queue, 0, 1'000'000)},
      {{"AUTHD_DB_POOL_SIZE", "2 x cores", "PostgreSQL connections"},
       number<std::size_t>(&Config::db_pool_size, 1, 1000)},
      {{"AUTHD_PBKDF2_ITERATIONS", "600000", "PBKDF2 iterations for new hashes"},
       number<std::uint32_t>(&Config::pbkdf2_iterations, 1, 10'000'000)},
      {{"AUTHD_SESSION_TTL", "24h", "absolute session lifetime (90s, 15m, 24h, 7d)"},
       [](Config& c, const std::string& v) {
         const auto d = parse_duration(v);
         if (d) c.session_ttl = *d;
         return d.has_value();
       }},
      {{"AUTHD_BACKUP_DIR", "./backups", "where backup CSVs go"},
       [](Config& c, const std::string& v) {
         c.backup_dir = v;
         return !v.empty();
       }},
      {{"AUTHD_ADMIN_TOKEN", "unset", "if set, Authorization: Bearer <it> is an admin"},
       optional_text(&Config::admin_token)},
      {{"AUTHD_LOGIN_LIMIT_ACCOUNT", "10/15m", "failed logins allowed per account per window"},
       [](Config& c, const std::string& v) {
         const auto l = parse_rate_limit(v);
         if (l) c.login_limit_account = *l;
         return l.has_value();
       }},
      {{"AUTHD_LOGIN_LIMIT_ADDRESS", "100/15m", "failed logins allowed per address per window"},
       [](Config& c, const std::string& v) {
         const auto l = parse_rate_limit(v);
         if (l) c.login_limit_address = *l;
         return l.has_value();
       }},
      {{"AUTHD_TRUSTED_PROXIES", "empty", "comma-separated CIDRs whose X-Forwarded-For is used"},
       [](Config& c, const std::string& v) {
         c.trusted_proxies.clear();
         for (std::string_view item : split_list(v)) {
           const auto cidr = parse_cidr(item);
           if (!cidr) return false;
           c.trusted_proxies.push_back(*cidr);
         }
         return true;
       }},
      {{"AUTHD_LEGACY_ROUTES", "on", "the original GET routes (on or off)"},
       [](Config& c, const std::string& v) {
         const auto b = parse_switch(v);
         if (b) c.legacy_routes = *b;
         return b.has_value();
       }},
      {{"AUTHD_SESSION_COMMIT", "sync", "new sessions: sync, or async (no wait for the WAL flush)"},
       [](Config& c, const std::string& v) {
         if (v != "async" && v != "sync") return false;
         c.durable_sessions = v == "sync";
         return true;
       }},
      {{"AUTHD_TLS_CERT", "unset", "PEM certificate chain; with AUTHD_TLS_KEY serves HTTPS"},
       optional_text(&Config::tls_cert)},
      {{"AUTHD_TLS_KEY", "unset", "PEM private key; with AUTHD_TLS_CERT serves HTTPS"},
       optional_text(&Config::tls_key)},
      {{"AUTHD_LOG_FORMAT", "text", "request log lines: text or json"},
       [](Config& c, const std::string& v) {
         if (v != "text" && v != "json") return false;
         c.log_json = v == "json";
         return true;
       }},
      {{"AUTHD_BOOTSTRAP_ADMIN_EMAIL", "unset",
        "with _PASSWORD: an admin created at start-up if absent, never overwritten"},
       optional_text(&Config::bootstrap_admin_email)},
      {{"AUTHD_BOOTSTRAP_ADMIN_PASSWORD", "unset", "the bootstrap admin's password"},
       optional_text(&Config::bootstrap_admin_password)},
      {{"AUTHD_SIGNUP_LIMIT_ADDRESS", "100/1h", "sign-ups allowed per client address (or off)"},
       [](Config& c, const std::string& v) {
         if (v == "off") {
           c.signup_limit_address = std::nullopt;
           return true;
         }
         const auto l = parse_rate_limit(v);
         if (l) c.signup_limit_address = *l;
         return l.has_value();
       }},
      {{"AUTHD_MAX_CONNECTIONS", "10000", "open client connections at most"},
       number<std::size_t>(&Config::max_connections, 1, 10'000'000)},
      {{"AUTHD_DB_TIMEOUT", "5s", "client-side deadline of every statement (1s to 10m)"},
       [](Config& c, const std::string& v) {
         const auto d = parse_duration(v);
         if (!d || *d > std::chrono::minutes(10)) return false;
         c.db_timeout = *d;
         return true;
       }},
      {{"AUTHD_ALLOWED_ORIGINS", "empty",
        "comma-separated origins (https://app.example.com) browsers may call the API from"},
       [](Config& c, const std::string& v) {
         c.allowed_origins.clear();
         for (std::string_view item : split_list(v)) {
           if (!valid_origin(item)) return false;
           c.allowed_origins.emplace_back(item);
         }
         return true;
       }},
      {{"AUTHD_COOKIE_SECURE", "auto", "Secure cookies: auto (under TLS), on or off"},
       [](Config& c, const std::string& v) {
         if (v == "auto") {
           c.cookie_secure = CookieSecure::automatic;
         } else if (const auto b = parse_switch(v)) {
           c.cookie_secure = *b ? CookieSecure::on : CookieSecure::off;
         } else {
           return false;
         }
         return true;
       }},
      {{"AUTHD_BACKUP_KEEP", "30", "backups kept; older ones are removed after a new one"},
       number<std::size_t>(&Config::backup_keep, 1, 1'000'000)},
      {{"AUTHD_BACKUP_TIMEOUT", "10m", "a backup running longer is cancelled"},
       [](Config& c, const std::string& v) {
         const auto d = parse_duration(v);
         if (d) c.backup_timeout = *d;
         return d.has_value();
       }},
      {{"AUTHD_AUDIT_RETENTION", "90d", "how long audit events are kept"},
       [](Config& c, const std::string& v) {
         const auto d = parse_duration(v);
         if (d) c.audit_retention = *d;
         return d.has_value() && d->count() > 0;
       }},
      {{"AUTHD_COOKIE_DOMAIN", "unset",
        "Domain of the session cookie (example.com), shared by its subdomains"},
       [](Config& c, const std::string& v) {
         if (!valid_cookie_domain(v)) return false;
         c.cookie_domain = auth::ascii_lower(v);
         return true;
       }},
      {{"AUTHD_ACCESS_RULES", "unset", "the front door's rules file (JSON)"},
       optional_text(&Config::access_rules)},
      {{"AUTHD_PORTAL_URL", "unset",
        "public base URL of authd's pages (https://auth.example.com) for sign-in redirects"},
       [](Config& c, const std::string& v) {
         std::string_view base = v;
         while (!base.empty() && base.back() == '/') base.remove_suffix(1);
         if (!valid_origin(base)) return false;
         c.portal_url = std::string(base);
         return true;
       }},
      {{"AUTHD_SECRET_KEY", "unset",
        "32 bytes in base64 (openssl rand -base64 32): seals second-factor secrets"},
       [](Config& c, const std::string& v) {
         if (v.empty()) {  // as every optional value: empty means unset
           c.secret_key.reset();
           return true;
         }
         if (!parse_secret_key(v)) return false;
         c.secret_key = v;
         return true;
       }},
      {{"AUTHD_SECRET_KEY_OLD", "empty",
        "comma-separated earlier AUTHD_SECRET_KEYs: what they sealed still opens"},
       [](Config& c, const std::string& v) {
         c.old_secret_keys.clear();
         for (std::string_view item : split_list(v)) {
           if (!parse_secret_key(item)) return false;
           c.old_secret_keys.emplace_back(item);
         }
         return true;
       }},
      {{"AUTHD_TOTP_ISSUER", "authd", "the issuer authenticator apps show"},
       [](Config& c, const std::string& v) {
         if (v.empty() || v.size() > 64 || v.find(':') != std::string::npos) return false;
         for (const char ch : v) {
           if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F) return false;
         }
         c.totp_issuer = v;
         return true;
       }},
      {{"AUTHD_SMTP_URL", "unset",
        "smtp://[user:password@]host:port (?starttls=required) or smtps://...; unset: no mail"},
       [](Config& c, const std::string& v) {
         if (v.empty()) {
           c.smtp_url.reset();
           return true;
         }
         if (!mail::valid_smtp_url(v)) return false;
         c.smtp_url = v;
         return true;
       }},
      {{"AUTHD_MAIL_FROM", "authd@localhost", "the sender address of mails"},
       [](Config& c, const std::string& v) {
         if (check_email_address(v)) return false;
         c.mail_from = v;
         return true;
       }},
      {{"AUTHD_PUBLIC_URL", "unset", "base of links in mails (falls back to AUTHD_PORTAL_URL)"},
       [](Config& c, const std::string& v) {
         std::string_view base = v;
         while (!base.empty() && base.back() == '/') base.remove_suffix(1);
         if (!valid_origin(base)) return false;
         c.public_url = std::string(base);
         return true;
       }},
      {{"AUTHD_REQUIRE_VERIFIED_EMAIL", "off",
        "on: users whose email is not verified cannot log in (403 email_not_verified)"},
       [](Config& c, const std::string& v) {
         const auto b = parse_switch(v);
         if (b) c.require_verified_email = *b;
         return b.has_value();
       }},
      {{"AUTHD_SESSION_CACHE", "100000", "sessions kept in memory for session checks (0: none)"},
       number<std::size_t>(&Config::session_cache, 0, 100'000'000)},
      {{"AUTHD_SESSION_CACHE_TTL", "5m", "the longest a cached session is trusted unread"},
       [](Config& c, const std::string& v) {
         const auto d = parse_duration(v);
         if (!d || d->count() < 1) return false;
         c.session_cache_ttl = *d;
         return true;
       }},
  };
  return table;
}

}  // namespace

const std::vector<SettingInfo>& settings() {
  static const std::vector<SettingInfo> infos = [] {
    std::vector<SettingInfo> out;
    for (const auto& s : setting_table()) out.push_back(s.info);
    return out;
  }();
  return infos;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return std::nullopt;
  }
  const auto n = parse_number<std::int64_t>(text.substr(0, text.size() - 1), 1, 3650 * 86400);
  if (!n || *n * unit > std::int64_t{3650} * 86400) return std::nullopt;
  return std::chrono::seconds(*n * unit);
}

std::optional<RateLimit> parse_rate_limit(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto count = parse_number<std::uint32_t>(text.substr(0, slash), 1, 1'000'000'000);
  const auto window = parse_duration(text.substr(slash + 1));
  if (!count || !window) return std::nullopt;
  return RateLimit{*count, *window};
}

std::optional<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const auto port = parse_number<std::uint16_t>(text.substr(colon + 1), 0, 65535);
  if (!port) return std::nullopt;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos || !parse_ip(host)) return std::nullopt;
  } else if (host.find(':') != std::string_view::npos || !parse_ip(host)) {
    return std::nullopt;
  }
  return std::pair{std::string(host), *port};
}

std::variant<ParsedConfig, ConfigError> parse_config(const std::map<std::string, std::string>& env,
                                                     const std::vector<std::string>& args,
                                                     unsigned cores) {
  ParsedConfig parsed;
  Config& config = parsed.config;
  cores = cores == 0 ? 1 : cores;
  config.io_threads = cores;
  config.hash_threads = cores;
  config.db_pool_size = 2 * cores;

  // Environment first, then flags, so a flag wins.
  std::vector<std::pair<const Setting*, std::string>> values;
  for (const auto& setting : setting_table()) {
    const auto it = env.find(std::string(setting.info.env));
    if (it != env.end()) values.emplace_back(&setting, it->second);
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const Setting* match = nullptr;
    std::optional<std::string> inline_value;
    for (const auto& setting : setting_table()) {
      const std::string flag = flag_of(setting.info.env);
      if (arg == flag) {
        match = &setting;
      } else if (arg.starts_with(flag + "=")) {
        match = &setting;
        inline_value = arg.substr(flag.size() + 1);
      }
      if (match) break;
    }
    if (!match) {
      parsed.rest.push_back(arg);
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return ConfigError{flag_of(match->info.env) + " needs a value"};
      }
      inline_value = args[++i];
    }
    values.emplace_back(match, *inline_value);
  }
  for (const auto& [setting, value] : values) {
    Config candidate = config;
    if (!setting->apply(candidate, value)) {
      // The value itself is not repeated: it may be a secret.
      return ConfigError{std::string(setting->info.env) + " (" + flag_of(setting->info.env) +
                         ") is not valid: expected " + std::string(setting->info.help)};
    }
    config = std::move(candidate);
  }
  if (config.tls_cert.has_value() != config.tls_key.has_value()) {
    return ConfigError{"AUTHD_TLS_CERT and AUTHD_TLS_KEY must be set together"};
  }
  if (config.admin_token && config.admin_token->size() < kMinAdminTokenLength) {
    return ConfigError{
        "AUTHD_ADMIN_TOKEN (--admin-token) is too short: it needs at least 32 "
        "characters (openssl rand -base64 32 makes one)"};
  }
  if (config.bootstrap_admin_email.has_value() != config.bootstrap_admin_password.has_value()) {
    return ConfigError{
        "AUTHD_BOOTSTRAP_ADMIN_EMAIL and AUTHD_BOOTSTRAP_ADMIN_PASSWORD must be set together"};
  }
  return parsed;
}

std::map<std::string, std::string> authd_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (!entry.starts_with("AUTHD_")) continue;
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

std::optional<mfa::SecretKey> parse_secret_key(std::string_view base64) {
  std::array<unsigned char, 32> bytes{};
  const auto n = auth::base64_decode_into(base64, bytes);
  if (!n || *n != bytes.size()) return std::nullopt;
  mfa::SecretKey key = mfa::secret_key(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return key;
}

}  // namespace authd::server
