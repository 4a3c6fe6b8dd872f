#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"

// API.md, "Requests from browsers": what a browser may do cross-site, CORS, caching, TLS hints.
using namespace authd::test;
namespace json = boost::json;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kAdminToken = "browser-test-admin-token-0123456789abcdef";
const std::string kLogin = R"({"username":"mia","password":"correct horse"})";

void sign_up_mia(unsigned short port) {
  REQUIRE(http(port, "POST", "/api/v1/signup",
               R"({"username":"mia","email":"mia@example.com","password":"correct horse"})")
              .status == 201);
}

std::string code_of(const HttpResponse& response) {
  return std::string(json::parse(response.body).at("code").as_string());
}

// A POST with exactly these headers (HttpClient::request adds Content-Type for a body).
HttpResponse raw_post(unsigned short port, const std::string& path, const std::string& body,
                      const Headers& headers) {
  HttpClient client(port);
  std::string text = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) text += name + ": " + value + "\r\n";
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  client.send_raw(text);
  return client.read_response();
}

}  // namespace

TEST_CASE("a body that is not JSON gets 415, one without Content-Type is read as JSON",
          "[e2e][browsers]") {
  AuthdServer server(fresh_database_url());
  sign_up_mia(server.port());
  // The login-CSRF vector: a cross-site form posting text/plain.
  const auto form =
      raw_post(server.port(), "/api/v1/login", kLogin, {{"Content-Type", "text/plain"}});
  CHECK(form.status == 415);
  CHECK(code_of(form) == "unsupported_media_type");
  CHECK(raw_post(server.port(), "/api/v1/login", "username=mia",
                 {{"Content-Type", "application/x-www-form-urlencoded"}})
            .status == 415);
  CHECK(raw_post(server.port(), "/api/v1/login", kLogin, {}).status == 200);
  CHECK(raw_post(server.port(), "/api/v1/login", kLogin,
                 {{"Content-Type", "application/json; charset=utf-8"}})
            .status == 200);
}

TEST_CASE("state-changing requests a browser marks as cross-site get 403", "[e2e][browsers]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  sign_up_mia(port);

  const auto foreign =
      http(port, "POST", "/api/v1/login", kLogin, {{"Origin", "https://evil.example"}});
  CHECK(foreign.status == 403);
  CHECK(code_of(foreign) == "cross_site_request");
  CHECK(http(port, "POST", "/api/v1/login", kLogin, {{"Sec-Fetch-Site", "cross-site"}}).status ==
        403);
  // A sibling subdomain is same-site for the browser but another origin: refused by Origin.
  CHECK(http(port, "POST", "/api/v1/login", kLogin,
             {{"Sec-Fetch-Site", "same-site"}, {"Origin", "http://other.127.0.0.1"}})
            .status == 403);
  CHECK(http(port, "POST", "/api/v1/signup",
             R"({"username":"eve","email":"eve@example.com","password":"correct horse"})",
             {{"Origin", "https://evil.example"}})
            .status == 403);
  // The legacy GETs change state: a cross-site navigation or image may not run them.
  CHECK(http(port, "GET", "/login/mia@example.com/correct%20horse", "",
             {{"Sec-Fetch-Site", "cross-site"}})
            .status == 403);
  CHECK(http(port, "GET", "/logout", "", {{"Sec-Fetch-Site", "cross-site"}}).status == 403);
  CHECK(http(port, "GET", "/dump", "",
             {{"Sec-Fetch-Site", "cross-site"},
              {"Authorization", std::string("Bearer ") + kAdminToken}})
            .status == 403);

  // Same origin, a typed URL, and clients that send neither header all work.
  CHECK(http(port, "POST", "/api/v1/login", kLogin, {{"Origin", "http://127.0.0.1"}}).status ==
        200);
  CHECK(http(port, "POST", "/api/v1/login", kLogin, {{"Sec-Fetch-Site", "same-origin"}}).status ==
        200);
  CHECK(
      http(port, "GET", "/login/mia@example.com/correct%20horse", "", {{"Sec-Fetch-Site", "none"}})
          .status == 200);
  CHECK(http(port, "POST", "/api/v1/login", kLogin).status == 200);
  // Reading is not changing: a foreign page's GET of /me is answered (it carries no cookie of
  // ours unless the browser sends one, and CORS keeps the answer from that page).
  CHECK(http(port, "GET", "/api/v1/me", "", {{"Origin", "https://evil.example"}}).status == 401);
}

TEST_CASE("allowed origins get CORS with credentials, others none", "[e2e][browsers]") {
  AuthdServer server(
      fresh_database_url(),
      {{"AUTHD_ALLOWED_ORIGINS", "https://app.example.com, https://admin.example.com"}});
  const auto port = server.port();
  sign_up_mia(port);
  const Headers preflight = {{"Origin", "https://app.example.com"},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "content-type"}};
  const auto allowed = http(port, "OPTIONS", "/api/v1/login", "", preflight);
  CHECK(allowed.status == 204);
  CHECK(allowed.header("access-control-allow-origin") == "https://app.example.com");
  CHECK(allowed.header("access-control-allow-credentials") == "true");
  CHECK_THAT(allowed.header("access-control-allow-methods").value_or(""), Catch::Contains("POST"));
  CHECK_THAT(allowed.header("access-control-allow-headers").value_or(""),
             Catch::Contains("Content-Type") && Catch::Contains("Authorization"));
  CHECK(allowed.header("access-control-max-age"));

  const auto login =
      http(port, "POST", "/api/v1/login", kLogin, {{"Origin", "https://app.example.com"}});
  CHECK(login.status == 200);
  CHECK(login.header("access-control-allow-origin") == "https://app.example.com");

  const auto other =
      http(port, "OPTIONS", "/api/v1/login", "",
           {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  CHECK_FALSE(other.header("access-control-allow-origin"));
  const auto other_login =
      http(port, "POST", "/api/v1/login", kLogin, {{"Origin", "https://evil.example"}});
  CHECK(other_login.status == 403);
  CHECK_FALSE(other_login.header("access-control-allow-origin"));
  // Never a wildcard, and nothing for a request without Origin.
  CHECK_FALSE(http(port, "POST", "/api/v1/login", kLogin).header("access-control-allow-origin"));
}

TEST_CASE("answers with users, sessions, tokens or backups are not stored by caches",
          "[e2e][browsers]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_ADMIN_TOKEN", kAdminToken}});
  const auto port = server.port();
  const auto signup =
      http(port, "POST", "/api/v1/signup",
           R"({"username":"mia","email":"mia@example.com","password":"correct horse"})");
  CHECK(signup.header("cache-control") == "no-store");
  const auto login = http(port, "POST", "/api/v1/login", kLogin);
  CHECK(login.header("cache-control") == "no-store");
  const std::string token(json::parse(login.body).at("token").as_string());
  CHECK(http(port, "GET", "/api/v1/me", "", {{"Authorization", "Bearer " + token}})
            .header("cache-control") == "no-store");
  CHECK(http(port, "GET", "/login/mia@example.com/correct%20horse").header("cache-control") ==
        "no-store");
  const Headers admin = {{"Authorization", std::string("Bearer ") + kAdminToken}};
  REQUIRE(http(port, "POST", "/api/v1/admin/backups", "", admin).status == 201);
  const auto csv = http(port, "GET", "/api/v1/admin/backups/latest", "", admin);
  CHECK(csv.status == 200);
  CHECK(csv.header("cache-control") == "no-store");
  CHECK(http(port, "GET", "/api/v1/me").header("cache-control") == "no-store");
}

TEST_CASE("behind a trusted TLS proxy answers carry HSTS and cookies Secure", "[e2e][browsers]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_TRUSTED_PROXIES", "127.0.0.1/32"}});
  const auto port = server.port();
  sign_up_mia(port);
  const auto tls = http(port, "POST", "/api/v1/login", kLogin, {{"X-Forwarded-Proto", "https"}});
  CHECK(tls.status == 200);
  CHECK(tls.header("strict-transport-security") == "max-age=31536000");
  CHECK_THAT(tls.header("set-cookie").value_or(""), Catch::Contains("; Secure"));
  // Same origin behind the proxy is the https one.
  CHECK(http(port, "POST", "/api/v1/login", kLogin,
             {{"X-Forwarded-Proto", "https"}, {"Origin", "https://127.0.0.1"}})
            .status == 200);

  const auto plain = http(port, "POST", "/api/v1/login", kLogin);
  CHECK_FALSE(plain.header("strict-transport-security"));
  CHECK_THAT(plain.header("set-cookie").value_or(""), !Catch::Contains("Secure"));
}

TEST_CASE("X-Forwarded-Proto from an untrusted peer changes nothing, AUTHD_COOKIE_SECURE forces it",
          "[e2e][browsers]") {
  {
    AuthdServer server(fresh_database_url());
    sign_up_mia(server.port());
    const auto spoofed =
        http(server.port(), "POST", "/api/v1/login", kLogin, {{"X-Forwarded-Proto", "https"}});
    CHECK(spoofed.status == 200);
    CHECK_FALSE(spoofed.header("strict-transport-security"));
    CHECK_THAT(spoofed.header("set-cookie").value_or(""), !Catch::Contains("Secure"));
  }
  {
    AuthdServer server(fresh_database_url(), {{"AUTHD_COOKIE_SECURE", "on"}});
    sign_up_mia(server.port());
    const auto forced = http(server.port(), "POST", "/api/v1/login", kLogin);
    CHECK_THAT(forced.header("set-cookie").value_or(""), Catch::Contains("; Secure"));
  }
}

TEST_CASE("the admin token counts only as Bearer, never as the cookie", "[e2e][browsers]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_ADMIN_TOKEN", kAdminToken}});
  const auto port = server.port();
  CHECK(http(port, "GET", "/api/v1/admin/backups", "",
             {{"Authorization", std::string("Bearer ") + kAdminToken}})
            .status == 200);
  CHECK(http(port, "GET", "/api/v1/admin/backups", "",
             {{"Cookie", std::string("authd_session=") + kAdminToken}})
            .status == 401);
  CHECK(http(port, "GET", "/showbackup", "",
             {{"Cookie", std::string("authd_session=") + kAdminToken}})
            .status == 401);
}

TEST_CASE("an admin token shorter than 32 characters stops start-up", "[e2e][browsers]") {
  auto env = base_env(fresh_database_url());
  env["AUTHD_ADMIN_TOKEN"] = "short-token";
  env["AUTHD_LISTEN"] = "127.0.0.1:" + std::to_string(free_port());
  const auto result = run(AUTHD_BINARY, {"serve"}, env);
  CHECK(result.code == 2);
  CHECK_THAT(result.output, Catch::Contains("AUTHD_ADMIN_TOKEN"));
  CHECK_THAT(result.output, !Catch::Contains("short-token"));
}
