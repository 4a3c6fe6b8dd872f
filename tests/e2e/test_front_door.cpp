#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <thread>

#include <boost/json/parse.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

// API.md, "The front door": the verdicts a reverse proxy gets, the rules, the session cache.
using namespace authd::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kRules = R"({"default_policy": "deny",
 "rules": [
   {"domain": ["public.example.com"], "policy": "bypass"},
   {"domain": ["*.example.com"], "path_prefix": ["/admin"], "policy": "admin"},
   {"domain": ["app.example.com"], "path_prefix": ["/reports"], "policy": "two_factor"},
   {"domain": ["app.example.com", "wiki.example.com"], "policy": "one_factor"}]})";

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string log_in(unsigned short port, const std::string& name) {
  const auto login = http(port, "POST", "/api/v1/login",
                          R"({"username":")" + name + R"(","password":"correct horse"})");
  REQUIRE(login.status == 200);
  return std::string(json::parse(login.body).at("token").as_string());
}

std::string sign_up_and_log_in(unsigned short port, const std::string& name) {
  const auto signup = http(port, "POST", "/api/v1/signup",
                           R"({"username":")" + name + R"(","email":")" + name +
                               R"(@example.com","password":"correct horse"})");
  REQUIRE((signup.status == 201 || signup.status == 409));
  return log_in(port, name);
}

HttpResponse ask_nginx_way(unsigned short port, const std::string& url,
                           const std::string& token = "", const std::string& method = "GET",
                           const std::string& verb = "GET") {
  Headers headers{{"X-Original-URL", url}, {"X-Original-Method", method}};
  if (!token.empty()) headers.emplace_back("Cookie", "authd_session=" + token);
  return http(port, verb, "/api/v1/authz/auth-request", "", headers);
}

HttpResponse ask_traefik_way(unsigned short port, const std::string& host, const std::string& uri,
                             const std::string& token, const std::string& method, bool browser) {
  Headers headers{{"X-Forwarded-Method", method},
                  {"X-Forwarded-Proto", "https"},
                  {"X-Forwarded-Host", host},
                  {"X-Forwarded-Uri", uri}};
  if (browser) headers.emplace_back("Accept", "text/html,application/xhtml+xml");
  if (!token.empty()) headers.emplace_back("Cookie", "authd_session=" + token);
  return http(port, "GET", "/api/v1/authz/forward-auth", "", headers);
}

std::map<std::string, std::string> door_env(const std::string& rules_path) {
  return {{"AUTHD_ACCESS_RULES", rules_path},
          {"AUTHD_PORTAL_URL", "https://auth.example.com"},
          {"AUTHD_COOKIE_DOMAIN", "example.com"},
          {"AUTHD_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"},
          {"AUTHD_BOOTSTRAP_ADMIN_PASSWORD", "correct horse"}};
}

std::string metric(unsigned short port, const std::string& line_start) {
  const auto body = http(port, "GET", "/metrics").body;
  const auto at = body.find("\n" + line_start + " ");
  if (at == std::string::npos) return "";
  const auto start = at + line_start.size() + 2;
  return body.substr(start, body.find('\n', start) - start);
}

bool positive(const std::string& value) {
  return !value.empty() && std::stod(value) > 0;
}

// Polls until the check passes or the time is up; how long it took, or nullopt.
template <class Check>
std::optional<std::chrono::milliseconds> within(std::chrono::milliseconds limit, Check check) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    if (check()) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(2ms);
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("auth-request: every verdict, with identity headers and the portal's location",
          "[e2e][frontdoor]") {
  TempDir dir;
  write_file(dir.file("rules.json"), kRules);
  AuthdServer server(fresh_database_url(), door_env(dir.file("rules.json")));
  const auto port = server.port();
  const std::string ann = sign_up_and_log_in(port, "ann");
  const std::string root = log_in(port, "root");

  // No session, a target that needs one: 401 with where to sign in.
  const auto anonymous = ask_nginx_way(port, "https://app.example.com/page?x=1");
  CHECK(anonymous.status == 401);
  CHECK(anonymous.header("location") ==
        "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Fpage%3Fx%3D1");
  CHECK(anonymous.header("cache-control") == "no-store");
  CHECK_FALSE(anonymous.header("remote-user"));

  // Signed in: 200, empty, with who it is.
  const auto allowed = ask_nginx_way(port, "https://app.example.com/page", ann);
  CHECK(allowed.status == 200);
  CHECK(allowed.body.empty());
  CHECK(allowed.header("remote-user") == "ann");
  CHECK(allowed.header("remote-email") == "ann@example.com");
  CHECK(allowed.header("remote-groups") == "user");
  CHECK(allowed.header("remote-aal") == "aal1");
  CHECK(allowed.header("remote-user-id").value_or("").size() > 0);
  CHECK(allowed.header("cache-control") == "no-store");
  // HEAD is GET without a body.
  CHECK(ask_nginx_way(port, "https://app.example.com/page", ann, "GET", "HEAD").status == 200);

  // bypass: no session needed, identity sent when there is one.
  const auto open = ask_nginx_way(port, "https://public.example.com/x");
  CHECK(open.status == 200);
  CHECK(open.header("remote-user") == "");  // present and empty: nothing to copy
  CHECK(ask_nginx_way(port, "https://public.example.com/x", ann).header("remote-user") == "ann");

  // admin: a user is forbidden, however the path is spelt; an admin passes.
  for (const std::string path :
       {"/admin", "/admin/users", "/%61dmin", "/x/../admin", "//admin", "/wiki/%2e%2e/admin/"}) {
    INFO(path);
    CHECK(ask_nginx_way(port, "https://app.example.com" + path, ann).status == 403);
  }
  CHECK(ask_nginx_way(port, "https://app.example.com/admin").status == 401);
  const auto admin = ask_nginx_way(port, "https://wiki.example.com/admin", root);
  CHECK(admin.status == 200);
  CHECK(admin.header("remote-groups") == "admin,user");

  // two_factor with an aal1 session: 403, and where to add the second factor.
  const auto second = ask_nginx_way(port, "https://app.example.com/reports/q3", ann);
  CHECK(second.status == 403);
  CHECK(second.header("location").value_or("").ends_with("&aal=aal2"));

  // The default here is deny; an unreadable original request is refused too.
  CHECK(ask_nginx_way(port, "https://other.example.com/", ann).status == 403);
  CHECK(ask_nginx_way(port, "https://app.example.com/%zz", ann).status == 403);
  CHECK(ask_nginx_way(port, "not a url", ann).status == 403);
  CHECK(http(port, "GET", "/api/v1/authz/auth-request").status == 403);

  // A client's own Remote-User means nothing: only the session does.
  const auto forged = http(port, "GET", "/api/v1/authz/auth-request", "",
                           {{"X-Original-URL", "https://app.example.com/"},
                            {"X-Original-Method", "GET"},
                            {"Remote-User", "root"}});
  CHECK(forged.status == 401);

  // After logout, refused again at once.
  REQUIRE(http(port, "POST", "/api/v1/logout", "", {{"Authorization", "Bearer " + ann}}).status ==
          204);
  CHECK(ask_nginx_way(port, "https://app.example.com/page", ann).status == 401);

  CHECK(positive(metric(port, "authd_authz_verdicts_total{verdict=\"allowed\"}")));
  CHECK(positive(metric(port, "authd_authz_verdicts_total{verdict=\"forbidden\"}")));
  CHECK(positive(metric(port, "authd_session_cache_hits_total")));
}

TEST_CASE("forward-auth: a browser GET is sent to the portal, anything else gets 401",
          "[e2e][frontdoor]") {
  TempDir dir;
  write_file(dir.file("rules.json"), kRules);
  AuthdServer server(fresh_database_url(), door_env(dir.file("rules.json")));
  const auto port = server.port();
  const std::string bo = sign_up_and_log_in(port, "bob");

  const auto browser = ask_traefik_way(port, "app.example.com", "/page?a=b", "", "GET", true);
  CHECK(browser.status == 302);
  CHECK(browser.header("location") ==
        "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Fpage%3Fa%3Db");
  CHECK(ask_traefik_way(port, "app.example.com", "/page", "", "POST", true).status == 401);
  CHECK(ask_traefik_way(port, "app.example.com", "/page", "", "GET", false).status == 401);
  const auto in = ask_traefik_way(port, "app.example.com", "/page", bo, "POST", false);
  CHECK(in.status == 200);
  CHECK(in.header("remote-user") == "bob");
  CHECK(ask_traefik_way(port, "app.example.com", "/%61dmin", bo, "GET", true).status == 403);
  const auto aal2 = ask_traefik_way(port, "app.example.com", "/reports", bo, "GET", true);
  CHECK(aal2.status == 302);
  CHECK(aal2.header("location").value_or("").ends_with("&aal=aal2"));
  CHECK(metric(port, "authd_authz_verdicts_total{verdict=\"redirected\"}") == "2");
}

TEST_CASE("without a portal or rules: plain 401, and every target needs a session",
          "[e2e][frontdoor]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  const std::string cy = sign_up_and_log_in(port, "cyd");
  const auto none = ask_nginx_way(port, "https://anything.test/");
  CHECK(none.status == 401);
  CHECK_FALSE(none.header("location"));
  CHECK(ask_traefik_way(port, "anything.test", "/", "", "GET", true).status == 401);
  CHECK(ask_nginx_way(port, "https://anything.test/", cy).status == 200);
}

TEST_CASE("the session cookie carries AUTHD_COOKIE_DOMAIN", "[e2e][frontdoor]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_COOKIE_DOMAIN", "example.com"}});
  sign_up_and_log_in(server.port(), "dee");
  const auto login = http(server.port(), "POST", "/api/v1/login",
                          R"({"username":"dee","password":"correct horse"})");
  CHECK_THAT(login.header("set-cookie").value_or(""), Catch::Contains("; Domain=example.com"));
}

TEST_CASE("rules are reloaded on SIGHUP, and a bad new file keeps the old rules",
          "[e2e][frontdoor]") {
  TempDir dir;
  const std::string path = dir.file("rules.json");
  write_file(path, R"({"default_policy": "deny"})");
  AuthdServer server(fresh_database_url(), {{"AUTHD_ACCESS_RULES", path}});
  const auto port = server.port();
  CHECK(ask_nginx_way(port, "https://a.test/").status == 403);

  write_file(path, R"({"default_policy": "bypass"})");
  server.process().signal(SIGHUP);
  CHECK(within(5s, [&] { return ask_nginx_way(port, "https://a.test/").status == 200; }));

  write_file(path,
             R"({"default_policy": "bypass", "rules": [{"domain": "a.test", "policy": "nope"}]})");
  server.process().signal(SIGHUP);
  CHECK(within(5s, [&] {
    return server.process().output().find("access rules not reloaded") != std::string::npos;
  }));
  CHECK_THAT(server.process().output(), Catch::Contains("rule 1"));
  CHECK(ask_nginx_way(port, "https://a.test/").status == 200);
  CHECK(server.process().running());
}

TEST_CASE("a rules file that cannot be used stops start-up with exit 2, naming the rule",
          "[e2e][frontdoor]") {
  TempDir dir;
  write_file(dir.file("rules.json"), R"({"rules": [{"domain": "a.test", "policy": "deny"},
    {"domain": "b.test", "policy": "alow"}]})");
  auto env = base_env(fresh_database_url());
  env["AUTHD_ACCESS_RULES"] = dir.file("rules.json");
  env["AUTHD_LISTEN"] = "127.0.0.1:" + std::to_string(free_port());
  const auto result = run(AUTHD_BINARY, {"serve"}, env);
  CHECK(result.code == 2);
  CHECK_THAT(result.output, Catch::Contains("rule 2") && Catch::Contains("alow"));
  env["AUTHD_ACCESS_RULES"] = dir.file("missing.json");
  CHECK(run(AUTHD_BINARY, {"serve"}, env).code == 2);
}

TEST_CASE("two instances on one database: a logout on one is refused by the other",
          "[e2e][frontdoor]") {
  const std::string url = fresh_database_url();
  AuthdServer a(url);
  AuthdServer b(url);
  sign_up_and_log_in(a.port(), "eve");
  // Session checks on b are served from its cache once seen; a change on a reaches b by NOTIFY.
  for (int trial = 0; trial < 20; ++trial) {
    const std::string token = log_in(a.port(), "eve");
    REQUIRE(ask_nginx_way(b.port(), "https://x.test/", token).status == 200);
    REQUIRE(ask_nginx_way(b.port(), "https://x.test/", token).status == 200);
    REQUIRE(http(a.port(), "POST", "/api/v1/logout", "", {{"Authorization", "Bearer " + token}})
                .status == 204);
    const auto took =
        within(2s, [&] { return ask_nginx_way(b.port(), "https://x.test/", token).status == 401; });
    REQUIRE(took);
  }
  // logout-all and a password change: every session of the user, on every instance.
  const std::string one = log_in(a.port(), "eve");
  const std::string two = log_in(a.port(), "eve");
  REQUIRE(http(b.port(), "GET", "/api/v1/me", "", {{"Authorization", "Bearer " + two}}).status ==
          200);
  REQUIRE(http(a.port(), "POST", "/api/v1/password",
               R"({"current_password":"correct horse","new_password":"correct horse 2"})",
               {{"Authorization", "Bearer " + one}})
              .status == 204);
  CHECK(within(2s, [&] {
    return http(b.port(), "GET", "/api/v1/me", "", {{"Authorization", "Bearer " + two}}).status ==
           401;
  }));
  CHECK(http(b.port(), "GET", "/api/v1/me", "", {{"Authorization", "Bearer " + one}}).status ==
        200);
  REQUIRE(http(a.port(), "POST", "/api/v1/logout-all", "", {{"Authorization", "Bearer " + one}})
              .status == 204);
  CHECK(within(2s, [&] {
    return http(b.port(), "GET", "/api/v1/me", "", {{"Authorization", "Bearer " + one}}).status ==
           401;
  }));
  CHECK(positive(metric(b.port(), "authd_session_cache_invalidations_total")));
}

TEST_CASE(
    "a lost listening connection empties the cache, and a session revoked meanwhile is refused",
    "[e2e][frontdoor]") {
  const std::string url = fresh_database_url();
  AuthdServer server(url);
  const auto port = server.port();
  const std::string token = sign_up_and_log_in(port, "fay");
  const Headers bearer{{"Authorization", "Bearer " + token}};
  REQUIRE(http(port, "GET", "/api/v1/me", "", bearer).status == 200);
  REQUIRE(http(port, "GET", "/api/v1/me", "", bearer).status == 200);
  REQUIRE(metric(port, "authd_session_cache_entries") == "1");

  pqxx::connection admin(url);
  pqxx::nontransaction tx(admin);
  const auto killed = tx.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = current_database() AND query LIKE 'LISTEN %'");
  REQUIRE(killed.size() == 1);
  // Revoked behind authd's back while it cannot hear: no notification reaches it.
  tx.exec("DELETE FROM sessions");
  CHECK(within(5s, [&] { return metric(port, "authd_session_cache_entries") == "0"; }));
  CHECK(http(port, "GET", "/api/v1/me", "", bearer).status == 401);
  // It listens again, and the cache serves again.
  const std::string again = log_in(port, "fay");
  const Headers fresh{{"Authorization", "Bearer " + again}};
  CHECK(within(10s, [&] {
    http(port, "GET", "/api/v1/me", "", fresh);
    return metric(port, "authd_session_cache_entries") == "1";
  }));
  CHECK_THAT(server.process().output(), Catch::Contains("not listening"));
}

TEST_CASE("the portal's sign-in page goes back to a safe rd only", "[e2e][frontdoor]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_PORTAL_URL", "https://auth.example.com"},
                                            {"AUTHD_COOKIE_DOMAIN", "example.com"}});
  const auto port = server.port();
  const auto safe =
      http(port, "GET", "/login?rd=https%3A%2F%2Fapp.example.com%2Fa%3Fb%3D1%26c%3D%2527x%2527");
  CHECK(safe.status == 200);
  CHECK_THAT(safe.header("content-type").value_or(""), Catch::StartsWith("text/html"));
  CHECK_THAT(safe.body,
             Catch::Contains(R"(data-next="https://app.example.com/a?b=1&amp;c=%27x%27")"));
  CHECK_THAT(safe.header("content-security-policy").value_or(""),
             Catch::Contains("default-src 'self'") && Catch::Contains("frame-ancestors 'none'"));
  CHECK(safe.header("x-frame-options") == "DENY");
  // Elsewhere, http on an https portal, scheme-relative, a script, a URL with a raw quote.
  for (const std::string rd : {"https%3A%2F%2Fevil.io%2F", "http%3A%2F%2Fapp.example.com%2F",
                               "https%3A%2F%2Fapp.example.com%2F%22%3E%3Cscript%3E",
                               "%2F%2Fevil.io", "javascript%3Aalert(1)", ""}) {
    INFO(rd);
    const auto page = http(port, "GET", "/login?rd=" + rd);
    CHECK(page.status == 200);
    CHECK_THAT(page.body, Catch::Contains(R"(data-next="/account")"));
  }
  CHECK_THAT(http(port, "GET", "/login?rd=x&aal=aal2").body, Catch::Contains("second factor"));
}
