#include <catch2/catch.hpp>

#include "server/config.hpp"

using namespace authd::server;

namespace {

std::variant<ParsedConfig, ConfigError> parse(std::map<std::string, std::string> env,
                                              std::vector<std::string> args = {}) {
  if (env.count("AUTHD_DATABASE_URL") == 0) env["AUTHD_DATABASE_URL"] = "postgresql://x/y";
  return parse_config(env, args, 4);
}

const Config& ok(const std::variant<ParsedConfig, ConfigError>& result) {
  if (const auto* error = std::get_if<ConfigError>(&result)) FAIL(error->message);
  return std::get<ParsedConfig>(result).config;
}

std::string error_of(const std::variant<ParsedConfig, ConfigError>& result) {
  REQUIRE(std::holds_alternative<ConfigError>(result));
  return std::get<ConfigError>(result).message;
}

}  // namespace

TEST_CASE("defaults follow API.md", "[config]") {
  const auto result = parse({});
  const Config& c = ok(result);
  CHECK(c.listen_host == "0.0.0.0");
  CHECK(c.listen_port == 8080);
  CHECK(c.io_threads == 4);
  CHECK(c.hash_threads == 4);
  CHECK(c.db_pool_size == 8);
  CHECK(c.hash_queue == 256);
  CHECK(c.pbkdf2_iterations == 600000);
  CHECK(c.session_ttl == std::chrono::hours(24));
  CHECK(c.backup_dir == "./backups");
  CHECK_FALSE(c.admin_token);
  CHECK(c.login_limit_account.count == 10);
  CHECK(c.login_limit_account.window == std::chrono::minutes(15));
  CHECK(c.login_limit_address.count == 100);
  CHECK(c.legacy_routes);
  CHECK(c.durable_sessions);
  CHECK_FALSE(c.log_json);
}

TEST_CASE("AUTHD_SESSION_COMMIT is async or sync", "[config]") {
  CHECK_FALSE(ok(parse({{"AUTHD_SESSION_COMMIT", "async"}})).durable_sessions);
  CHECK(ok(parse({{"AUTHD_SESSION_COMMIT", "sync"}})).durable_sessions);
  CHECK_FALSE(ok(parse({}, {"--session-commit", "async"})).durable_sessions);
  CHECK_THAT(error_of(parse({{"AUTHD_SESSION_COMMIT", "on"}})),
             Catch::Contains("AUTHD_SESSION_COMMIT"));
}

TEST_CASE("durations take s, m, h and d", "[config]") {
  CHECK(parse_duration("90s") == std::chrono::seconds(90));
  CHECK(parse_duration("15m") == std::chrono::minutes(15));
  CHECK(parse_duration("24h") == std::chrono::hours(24));
  CHECK(parse_duration("7d") == std::chrono::hours(24 * 7));
  CHECK_FALSE(parse_duration("0s"));
  CHECK_FALSE(parse_duration("10"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-5m"));
  CHECK_FALSE(parse_duration("5w"));
  CHECK_FALSE(parse_duration("1.5h"));
  CHECK_FALSE(parse_duration("99999999999d"));
}

TEST_CASE("limits are COUNT/DURATION", "[config]") {
  const auto limit = parse_rate_limit("10/15m");
  REQUIRE(limit);
  CHECK(limit->count == 10);
  CHECK(limit->window == std::chrono::minutes(15));
  CHECK_FALSE(parse_rate_limit("0/15m"));
  CHECK_FALSE(parse_rate_limit("10"));
  CHECK_FALSE(parse_rate_limit("10/"));
  CHECK_FALSE(parse_rate_limit("/15m"));
  CHECK_FALSE(parse_rate_limit("ten/15m"));
}

TEST_CASE("listen addresses take IPv4 and bracketed IPv6", "[config]") {
  CHECK(parse_listen("127.0.0.1:9000") == std::pair<std::string, std::uint16_t>{"127.0.0.1", 9000});
  CHECK(parse_listen("[::]:8080") == std::pair<std::string, std::uint16_t>{"::", 8080});
  CHECK(parse_listen("[::1]:0") == std::pair<std::string, std::uint16_t>{"::1", 0});
  CHECK_FALSE(parse_listen("localhost"));
  CHECK_FALSE(parse_listen("127.0.0.1:70000"));
  CHECK_FALSE(parse_listen(":::8080"));
  CHECK_FALSE(parse_listen("300.1.1.1:80"));
}

TEST_CASE("a flag wins over the environment", "[config]") {
  const auto result = parse({{"AUTHD_DB_POOL_SIZE", "3"}}, {"--db-pool-size", "5"});
  CHECK(ok(result).db_pool_size == 5);
  const auto inline_form = parse({{"AUTHD_LISTEN", "127.0.0.1:1"}}, {"--listen=127.0.0.1:2"});
  CHECK(ok(inline_form).listen_port == 2);
}

TEST_CASE("arguments that are not settings are handed back in order", "[config]") {
  const auto result = parse({}, {"create", "--username", "bob", "--session-ttl", "1h"});
  const auto& parsed = std::get<ParsedConfig>(result);
  CHECK(parsed.rest == std::vector<std::string>{"create", "--username", "bob"});
  CHECK(parsed.config.session_ttl == std::chrono::hours(1));
}

TEST_CASE("a bad value is refused with the setting's name", "[config]") {
  CHECK_THAT(error_of(parse({{"AUTHD_IO_THREADS", "0"}})), Catch::Contains("AUTHD_IO_THREADS"));
  CHECK_THAT(error_of(parse({{"AUTHD_HASH_THREADS", "x"}})), Catch::Contains("AUTHD_HASH_THREADS"));
  CHECK_THAT(error_of(parse({{"AUTHD_SESSION_TTL", "forever"}})),
             Catch::Contains("AUTHD_SESSION_TTL"));
  CHECK_THAT(error_of(parse({{"AUTHD_LOG_FORMAT", "xml"}})), Catch::Contains("AUTHD_LOG_FORMAT"));
  CHECK_THAT(error_of(parse({{"AUTHD_LEGACY_ROUTES", "maybe"}})),
             Catch::Contains("AUTHD_LEGACY_ROUTES"));
  CHECK_THAT(error_of(parse({{"AUTHD_TRUSTED_PROXIES", "10.0.0.0/33"}})),
             Catch::Contains("AUTHD_TRUSTED_PROXIES"));
  CHECK_THAT(error_of(parse({{"AUTHD_PBKDF2_ITERATIONS", "0"}})),
             Catch::Contains("AUTHD_PBKDF2_ITERATIONS"));
  CHECK_THAT(error_of(parse({}, {"--db-pool-size"})), Catch::Contains("--db-pool-size"));
}

TEST_CASE("a refused value is not repeated, an empty optional value means unset", "[config]") {
  CHECK_FALSE(ok(parse({{"AUTHD_ADMIN_TOKEN", ""}})).admin_token);
  const std::string ttl = error_of(parse({{"AUTHD_SESSION_TTL", "s3cr3t-value"}}));
  CHECK_THAT(ttl, !Catch::Contains("s3cr3t-value"));
}

TEST_CASE("TLS settings come in pairs", "[config]") {
  CHECK_THAT(error_of(parse({{"AUTHD_TLS_CERT", "/tmp/c.pem"}})), Catch::Contains("AUTHD_TLS_KEY"));
  const auto both = parse({{"AUTHD_TLS_CERT", "/c"}, {"AUTHD_TLS_KEY", "/k"}});
  CHECK(ok(both).tls_cert == "/c");
}

TEST_CASE("trusted proxies parse IPv4 and IPv6 networks", "[config]") {
  const auto result = parse({{"AUTHD_TRUSTED_PROXIES", "10.0.0.0/8, ::1, 192.168.1.1"}});
  const auto& proxies = ok(result).trusted_proxies;
  REQUIRE(proxies.size() == 3);
  CHECK(cidr_contains(proxies[0], *parse_ip("10.200.3.4")));
  CHECK_FALSE(cidr_contains(proxies[0], *parse_ip("11.0.0.1")));
  CHECK(cidr_contains(proxies[1], *parse_ip("::1")));
  CHECK_FALSE(cidr_contains(proxies[1], *parse_ip("127.0.0.1")));
  CHECK(cidr_contains(proxies[2], *parse_ip("192.168.1.1")));
  CHECK_FALSE(cidr_contains(proxies[2], *parse_ip("192.168.1.2")));
}

TEST_CASE("every setting of API.md is known", "[config]") {
  std::vector<std::string> names;
  for (const auto& s : settings()) names.emplace_back(s.env);
  for (const char* name :
       {"AUTHD_LISTEN", "AUTHD_DATABASE_URL", "AUTHD_IO_THREADS", "AUTHD_HASH_THREADS",
        "AUTHD_HASH_QUEUE", "AUTHD_DB_POOL_SIZE", "AUTHD_PBKDF2_ITERATIONS", "AUTHD_SESSION_TTL",
        "AUTHD_BACKUP_DIR", "AUTHD_ADMIN_TOKEN", "AUTHD_LOGIN_LIMIT_ACCOUNT",
        "AUTHD_LOGIN_LIMIT_ADDRESS", "AUTHD_TRUSTED_PROXIES", "AUTHD_LEGACY_ROUTES",
        "AUTHD_TLS_CERT", "AUTHD_TLS_KEY", "AUTHD_LOG_FORMAT"}) {
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
  }
}

TEST_CASE("CIDRs contain what they should, IPv4 as IPv4-mapped", "[config][cidr]") {
  const auto v4 = parse_cidr("10.1.2.3/8");
  REQUIRE(v4);
  CHECK(cidr_contains(*v4, *parse_ip("10.200.0.1")));
  CHECK(cidr_contains(*v4, *parse_ip("::ffff:10.9.9.9")));
  CHECK_FALSE(cidr_contains(*v4, *parse_ip("11.0.0.1")));
  const auto v6 = parse_cidr("2001:db8:1:2::/64");
  REQUIRE(v6);
  CHECK(cidr_contains(*v6, *parse_ip("2001:db8:1:2:ffff::1")));
  CHECK_FALSE(cidr_contains(*v6, *parse_ip("2001:db8:1:3::1")));
  const auto host = parse_cidr("192.0.2.7");
  REQUIRE(host);
  CHECK(cidr_contains(*host, *parse_ip("192.0.2.7")));
  CHECK_FALSE(cidr_contains(*host, *parse_ip("192.0.2.8")));
  CHECK(cidr_contains(*parse_cidr("0.0.0.0/0"), *parse_ip("203.0.113.1")));
  CHECK_FALSE(parse_cidr("10.0.0.0/33"));
  CHECK_FALSE(parse_cidr("::/129"));
  CHECK_FALSE(parse_cidr("10.0.0.0/"));
  CHECK_FALSE(parse_cidr("example.com/8"));
  CHECK_FALSE(parse_ip("1.2.3"));
}
