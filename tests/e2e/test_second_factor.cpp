#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include <boost/json/parse.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "mfa/base32.hpp"
#include "mfa/totp.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

// API.md, "Second factor": enrolment, the two-step login, recovery codes, and what is stored.
using namespace authd::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

std::map<std::string, std::string> with_key() {
  return {{"AUTHD_SECRET_KEY", kKey}};
}

Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

json::object body_of(const HttpResponse& r) {
  return json::parse(r.body).as_object();
}
std::string text(const json::object& o, const char* key) {
  return std::string(o.at(key).as_string());
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The current step, waiting first when it is about to end (a code must not change on its way).
std::int64_t steady_step() {
  while (unix_now() % authd::mfa::kStepSeconds > authd::mfa::kStepSeconds - 4) {
    std::this_thread::sleep_for(200ms);
  }
  return authd::mfa::step_of(unix_now());
}

std::string code_at(const std::vector<unsigned char>& secret, std::int64_t step) {
  return authd::mfa::hotp(secret, static_cast<std::uint64_t>(step));
}

struct Enrolled {
  std::string token;  // the enrolling session, aal2 afterwards
  std::vector<unsigned char> secret;
  std::vector<std::string> recovery;
  std::int64_t step;  // the step the confirmation used (the one before now)
};

std::string log_in(unsigned short port, const std::string& name) {
  const auto r = http(port, "POST", "/api/v1/login",
                      R"({"username":")" + name + R"(","password":"correct horse"})");
  REQUIRE(r.status == 200);
  return text(body_of(r), "token");
}

Enrolled enrol(unsigned short port, const std::string& name) {
  REQUIRE(http(port, "POST", "/api/v1/signup",
               R"({"username":")" + name + R"(","email":")" + name +
                   R"(@example.com","password":"correct horse"})")
              .status == 201);
  Enrolled e;
  e.token = log_in(port, name);
  const auto setup =
      http(port, "POST", "/api/v1/totp/setup", R"({"password":"correct horse"})", bearer(e.token));
  REQUIRE(setup.status == 200);
  const auto s = body_of(setup);
  e.secret = *authd::mfa::base32_decode(text(s, "secret"));
  REQUIRE(e.secret.size() == 20);
  CHECK_THAT(text(s, "otpauth_uri"),
             Catch::StartsWith("otpauth://totp/authd:" + name + "?secret=" + text(s, "secret")));
  const auto qr = http(port, "GET", "/api/v1/totp/qr.svg", "", bearer(e.token));
  CHECK(qr.status == 200);
  CHECK(qr.header("content-type") == "image/svg+xml");
  CHECK_THAT(qr.body, Catch::StartsWith("<svg"));
  e.step = steady_step() - 1;
  const auto confirm = http(port, "POST", "/api/v1/totp/confirm",
                            R"({"code":")" + code_at(e.secret, e.step) + R"("})", bearer(e.token));
  REQUIRE(confirm.status == 200);
  const auto confirmed = body_of(confirm);
  for (const auto& c : confirmed.at("recovery_codes").as_array()) {
    e.recovery.emplace_back(c.as_string());
  }
  REQUIRE(e.recovery.size() == 10);
  return e;
}

std::string mfa_token(unsigned short port, const std::string& name) {
  const auto r = http(port, "POST", "/api/v1/login",
                      R"({"username":")" + name + R"(","password":"correct horse"})");
  REQUIRE(r.status == 200);
  const auto b = body_of(r);
  REQUIRE(b.at("mfa_required").as_bool());
  CHECK_FALSE(b.contains("token"));
  CHECK_FALSE(r.header("set-cookie"));
  return text(b, "mfa_token");
}

HttpResponse second_step(unsigned short port, const std::string& token, const std::string& field,
                         const std::string& value) {
  return http(port, "POST", "/api/v1/login/mfa",
              R"({"mfa_token":")" + token + R"(",")" + field + R"(":")" + value + R"("})");
}

std::string code_of(const HttpResponse& r) {
  return text(body_of(r), "code");
}

}  // namespace

TEST_CASE("enrol, then log in with a code: the session is aal2, and a code works once",
          "[e2e][mfa]") {
  const std::string url = fresh_database_url();
  AuthdServer server(url, with_key());
  const auto port = server.port();
  const Enrolled e = enrol(port, "ann");
  const auto me = body_of(http(port, "GET", "/api/v1/me", "", bearer(e.token)));
  CHECK(me.at("user").at("two_factor").as_bool());
  CHECK(me.at("session").at("aal").as_string() == "aal2");

  const std::string token = mfa_token(port, "ann");
  const std::int64_t now = e.step + 1;
  // The confirmation's step, and older ones, are spent.
  CHECK(code_of(second_step(port, token, "code", code_at(e.secret, e.step))) == "invalid_code");
  CHECK(second_step(port, token, "code", code_at(e.secret, now - 3)).status == 401);
  const auto ok = second_step(port, token, "code", code_at(e.secret, now));
  REQUIRE(ok.status == 200);
  CHECK_THAT(ok.header("set-cookie").value_or(""), Catch::StartsWith("authd_session="));
  const std::string session = text(body_of(ok), "token");
  const auto after = body_of(http(port, "GET", "/api/v1/me", "", bearer(session)));
  CHECK(after.at("session").at("aal").as_string() == "aal2");
  // The token is used up; a new one with the same code: a replay, refused.
  CHECK(code_of(second_step(port, token, "code", code_at(e.secret, now + 1))) ==
        "invalid_mfa_token");
  const std::string again = mfa_token(port, "ann");
  CHECK(code_of(second_step(port, again, "code", code_at(e.secret, now))) == "invalid_code");
  CHECK(second_step(port, again, "code", code_at(e.secret, now + 1)).status == 200);

  // The front door sees aal2.
  const auto verdict = http(port, "GET", "/api/v1/authz/auth-request", "",
                            {{"X-Original-URL", "https://a.test/"},
                             {"X-Original-Method", "GET"},
                             {"Authorization", "Bearer " + session}});
  CHECK(verdict.header("remote-aal") == "aal2");

  // What is stored opens only with the key.
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  const std::string stored = tx.exec1("SELECT secret FROM totp")[0].as<std::string>();
  CHECK_THAT(stored, Catch::StartsWith("v1:"));
  CHECK(stored.find(authd::mfa::base32_encode(e.secret)) == std::string::npos);
  std::string hex;
  for (unsigned char b : e.secret) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  CHECK(stored.find(hex) == std::string::npos);
  const std::string codes =
      tx.exec1("SELECT string_agg(code_hash, ' ') FROM recovery_codes")[0].as<std::string>();
  for (const auto& code : e.recovery) {
    CHECK(codes.find(code.substr(0, 5)) == std::string::npos);
  }
}

TEST_CASE("five wrong codes void the token, and wrong codes count against the account",
          "[e2e][mfa]") {
  AuthdServer server(fresh_database_url(),
                     {{"AUTHD_SECRET_KEY", kKey}, {"AUTHD_LOGIN_LIMIT_ACCOUNT", "8/15m"}});
  const auto port = server.port();
  const Enrolled e = enrol(port, "bob");
  const std::string token = mfa_token(port, "bob");
  for (int i = 0; i < 5; ++i)
    CHECK(code_of(second_step(port, token, "code", "000000")) == "invalid_code");
  // Even the right code now: the token is void.
  CHECK(code_of(second_step(port, token, "code", code_at(e.secret, e.step + 1))) ==
        "invalid_mfa_token");
  // Three more wrong codes on a new token reach the account's limit of 8.
  const std::string next = mfa_token(port, "bob");
  for (int i = 0; i < 3; ++i) second_step(port, next, "code", "000000");
  const auto limited = second_step(port, next, "code", code_at(e.secret, e.step + 1));
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after"));
  CHECK(http(port, "POST", "/api/v1/login", R"({"username":"bob","password":"correct horse"})")
            .status == 429);
}

TEST_CASE("a recovery code logs in once, and new codes replace the old", "[e2e][mfa]") {
  AuthdServer server(fresh_database_url(), with_key());
  const auto port = server.port();
  const Enrolled e = enrol(port, "cyd");
  const auto first = second_step(port, mfa_token(port, "cyd"), "recovery_code", e.recovery[0]);
  CHECK(first.status == 200);
  CHECK(code_of(second_step(port, mfa_token(port, "cyd"), "recovery_code", e.recovery[0])) ==
        "invalid_code");
  CHECK(second_step(port, mfa_token(port, "cyd"), "recovery_code", e.recovery[1]).status == 200);

  const auto renewed =
      http(port, "POST", "/api/v1/recovery-codes",
           R"({"password":"correct horse","code":")" + e.recovery[2] + R"("})", bearer(e.token));
  REQUIRE(renewed.status == 200);
  const auto fresh = body_of(renewed).at("recovery_codes").as_array();
  REQUIRE(fresh.size() == 10);
  CHECK(code_of(second_step(port, mfa_token(port, "cyd"), "recovery_code", e.recovery[3])) ==
        "invalid_code");
  CHECK(
      second_step(port, mfa_token(port, "cyd"), "recovery_code", std::string(fresh[0].as_string()))
          .status == 200);
}

TEST_CASE("disable needs the password and a code, and ends the other sessions", "[e2e][mfa]") {
  AuthdServer server(fresh_database_url(), with_key());
  const auto port = server.port();
  const Enrolled e = enrol(port, "dee");
  const auto other = second_step(port, mfa_token(port, "dee"), "recovery_code", e.recovery[0]);
  REQUIRE(other.status == 200);
  const std::string other_token = text(body_of(other), "token");

  CHECK(http(port, "POST", "/api/v1/totp/disable", R"({"password":"wrong horse","code":"000000"})",
             bearer(e.token))
            .status == 401);
  CHECK(code_of(http(port, "POST", "/api/v1/totp/disable",
                     R"({"password":"correct horse","code":"000000"})", bearer(e.token))) ==
        "invalid_code");
  CHECK(http(port, "POST", "/api/v1/totp/disable",
             R"({"password":"correct horse","code":")" + e.recovery[1] + R"("})", bearer(e.token))
            .status == 204);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(other_token)).status == 401);
  const auto me = body_of(http(port, "GET", "/api/v1/me", "", bearer(e.token)));
  CHECK_FALSE(me.at("user").at("two_factor").as_bool());
  // A plain login again.
  const auto plain =
      http(port, "POST", "/api/v1/login", R"({"username":"dee","password":"correct horse"})");
  CHECK(body_of(plain).contains("token"));
}

TEST_CASE("the legacy login of an enrolled user gives a challenge, no cookie", "[e2e][mfa]") {
  AuthdServer server(fresh_database_url(), with_key());
  const auto port = server.port();
  enrol(port, "eve");
  const auto legacy = http(port, "GET", "/login/eve@example.com/correct%20horse");
  REQUIRE(legacy.status == 200);
  CHECK(body_of(legacy).at("mfa_required").as_bool());
  CHECK_FALSE(legacy.header("set-cookie"));
}

TEST_CASE("setup: a wrong password is a failed login, a second setup is 409", "[e2e][mfa]") {
  AuthdServer server(fresh_database_url(), with_key());
  const auto port = server.port();
  const Enrolled e = enrol(port, "fay");
  const auto wrong =
      http(port, "POST", "/api/v1/totp/setup", R"({"password":"wrong horse"})", bearer(e.token));
  CHECK(wrong.status == 401);
  const auto again =
      http(port, "POST", "/api/v1/totp/setup", R"({"password":"correct horse"})", bearer(e.token));
  CHECK(again.status == 409);
  CHECK(code_of(again) == "totp_enabled");
  CHECK(http(port, "GET", "/api/v1/totp/qr.svg", "", bearer(e.token)).status == 404);
}

TEST_CASE("without AUTHD_SECRET_KEY second factors answer 503 not_configured", "[e2e][mfa]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup",
               R"({"username":"gus","email":"gus@example.com","password":"correct horse"})")
              .status == 201);
  const std::string token = log_in(port, "gus");
  const auto setup =
      http(port, "POST", "/api/v1/totp/setup", R"({"password":"correct horse"})", bearer(token));
  CHECK(setup.status == 503);
  CHECK(code_of(setup) == "not_configured");
}

TEST_CASE("an admin removes a user's second factor, and the user's sessions end", "[e2e][mfa]") {
  AuthdServer server(fresh_database_url(),
                     {{"AUTHD_SECRET_KEY", kKey},
                      {"AUTHD_ADMIN_TOKEN", "mfa-test-admin-token-0123456789abcdefghij"}});
  const auto port = server.port();
  const Enrolled e = enrol(port, "hal");
  const auto me = body_of(http(port, "GET", "/api/v1/me", "", bearer(e.token)));
  const std::string id = std::to_string(me.at("user").at("id").as_int64());
  const Headers admin = bearer("mfa-test-admin-token-0123456789abcdefghij");
  CHECK(http(port, "DELETE", "/api/v1/admin/users/" + id + "/totp", "", bearer(e.token)).status ==
        403);
  CHECK(http(port, "DELETE", "/api/v1/admin/users/" + id + "/totp", "", admin).status == 204);
  CHECK(http(port, "DELETE", "/api/v1/admin/users/999999/totp", "", admin).status == 404);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(e.token)).status == 401);
  const auto plain =
      http(port, "POST", "/api/v1/login", R"({"username":"hal","password":"correct horse"})");
  CHECK(body_of(plain).contains("token"));
}

TEST_CASE("backup and restore into an empty database: the second factor comes back",
          "[e2e][mfa][backup]") {
  const TempDir dir("authd-test-backups-");
  const std::string source = fresh_database_url();
  Enrolled e;
  {
    AuthdServer server(source, with_key());
    e = enrol(server.port(), "ida");
  }
  auto env = base_env(source);
  env["AUTHD_BACKUP_DIR"] = dir.path();
  const auto created = run(AUTHD_BINARY, {"backup", "create"}, env);
  REQUIRE(created.code == 0);
  const auto meta = json::parse(created.output.substr(created.output.find('{')));
  const std::string file = dir.path() + "/" + std::string(meta.at("file").as_string());

  const std::string target = fresh_database_url();
  const auto restored = run(AUTHD_BINARY, {"backup", "restore", file}, base_env(target));
  INFO(restored.output);
  REQUIRE(restored.code == 0);
  AuthdServer server(target, with_key());
  const auto port = server.port();
  // Still needs the second factor, and passes it: a code, and one of the recovery codes.
  const std::string token = mfa_token(port, "ida");
  CHECK(second_step(port, token, "code", code_at(e.secret, e.step + 1)).status == 200);
  CHECK(second_step(port, mfa_token(port, "ida"), "recovery_code", e.recovery[4]).status == 200);
}
