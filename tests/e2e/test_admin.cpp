#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"

// API.md, "Administration, sessions and audit": the admin's user routes, a user's own sessions,
// and the audit trail.
using namespace authd::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kAdminToken = "an-admin-token-of-at-least-32-characters";
const Headers kAdmin = {{"Authorization", std::string("Bearer ") + kAdminToken}};

Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

json::object body_of(const HttpResponse& r) {
  return json::parse(r.body).as_object();
}

std::map<std::string, std::string> admin_env() {
  return {{"AUTHD_ADMIN_TOKEN", kAdminToken}};
}

std::int64_t sign_up(unsigned short port, const std::string& name) {
  const auto r = http(port, "POST", "/api/v1/signup",
                      R"({"username":")" + name + R"(","email":")" + name +
                          R"(@example.com","password":"correct horse"})");
  REQUIRE(r.status == 201);
  return body_of(r).at("user").at("id").as_int64();
}

HttpResponse log_in_as(unsigned short port, const std::string& name,
                       const std::string& password = "correct horse", const Headers& headers = {}) {
  return http(port, "POST", "/api/v1/login",
              R"({"username":")" + name + R"(","password":")" + password + R"("})", headers);
}

std::string log_in(unsigned short port, const std::string& name, const Headers& headers = {}) {
  const auto r = log_in_as(port, name, "correct horse", headers);
  REQUIRE(r.status == 200);
  return std::string(body_of(r).at("token").as_string());
}

std::string scalar(const std::string& url, const std::string& query) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  const auto rows = tx.exec(query);
  return rows.empty() || rows[0][0].is_null() ? "" : rows[0][0].as<std::string>();
}

// Polls until the condition holds or 5 s pass; the last answer.
template <class F>
bool eventually(F condition) {
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string path_of(std::int64_t id, const std::string& tail = "") {
  return "/api/v1/admin/users/" + std::to_string(id) + tail;
}

}  // namespace

TEST_CASE("admin user routes: search, get, change, delete, and their errors", "[e2e][admin]") {
  const auto url = fresh_database_url();
  AuthdServer server(url, admin_env());
  const auto port = server.port();
  const auto alice = sign_up(port, "Alice");
  const auto bob = sign_up(port, "bob");
  sign_up(port, "carol");
  const auto user_token = log_in(port, "bob");

  CHECK(http(port, "GET", "/api/v1/admin/users").status == 401);
  CHECK(http(port, "GET", "/api/v1/admin/users", "", bearer(user_token)).status == 403);
  CHECK(http(port, "PATCH", path_of(alice), R"({"disabled":true})", bearer(user_token)).status ==
        403);

  // Case-insensitive prefixes of the username or the email; wildcards are plain characters.
  auto found = body_of(http(port, "GET", "/api/v1/admin/users?query=ALI", "", kAdmin));
  REQUIRE(found.at("users").as_array().size() == 1);
  CHECK(found.at("users").as_array()[0].at("username") == "Alice");
  CHECK(found.at("users").as_array()[0].at("disabled") == false);
  CHECK(found.at("users").as_array()[0].at("two_factor") == false);
  CHECK_FALSE(found.at("users").as_array()[0].as_object().contains("password_hash"));
  CHECK(found.at("next").is_null());
  found = body_of(http(port, "GET", "/api/v1/admin/users?query=carol%40ex", "", kAdmin));
  CHECK(found.at("users").as_array().size() == 1);
  found = body_of(http(port, "GET", "/api/v1/admin/users?query=%25", "", kAdmin));
  CHECK(found.at("users").as_array().empty());
  found = body_of(http(port, "GET", "/api/v1/admin/users?query=_ob", "", kAdmin));
  CHECK(found.at("users").as_array().empty());
  found = body_of(http(port, "GET", "/api/v1/admin/users", "", kAdmin));
  CHECK(found.at("users").as_array().size() == 3);

  for (const char* bad : {"?limit=0", "?limit=501", "?limit=x", "?after=-1", "?after=abc"}) {
    INFO(bad);
    const auto r = http(port, "GET", std::string("/api/v1/admin/users") + bad, "", kAdmin);
    CHECK(r.status == 400);
    CHECK(r.header("content-type") == "application/problem+json");
  }
  CHECK(http(port, "GET", "/api/v1/admin/users?query=%FF", "", kAdmin).status == 400);

  const auto got = http(port, "GET", path_of(alice), "", kAdmin);
  CHECK(got.status == 200);
  CHECK(body_of(got).at("user").at("email") == "Alice@example.com");
  CHECK(http(port, "GET", path_of(999999), "", kAdmin).status == 404);
  CHECK(http(port, "GET", "/api/v1/admin/users/x", "", kAdmin).status == 404);

  CHECK(http(port, "PATCH", path_of(alice), R"({"role":"root"})", kAdmin).status == 400);
  CHECK(http(port, "PATCH", path_of(alice), R"({"disabled":"yes"})", kAdmin).status == 400);
  CHECK(http(port, "PATCH", path_of(alice), R"({"email":"x@example.com"})", kAdmin).status == 400);
  CHECK(http(port, "PATCH", path_of(alice), "{}", kAdmin).status == 400);
  CHECK(http(port, "PATCH", path_of(999999), R"({"role":"admin"})", kAdmin).status == 404);
  const auto promoted = http(port, "PATCH", path_of(alice), R"({"role":"admin"})", kAdmin);
  REQUIRE(promoted.status == 200);
  CHECK(body_of(promoted).at("user").at("role") == "admin");

  // An admin's own session may act on others, but not lock its own account out.
  const auto admin_session = log_in(port, "Alice");
  CHECK(http(port, "GET", path_of(bob), "", bearer(admin_session)).status == 200);
  CHECK(http(port, "PATCH", path_of(alice), R"({"disabled":true})", bearer(admin_session)).status ==
        409);
  CHECK(http(port, "DELETE", path_of(alice), "", bearer(admin_session)).status == 409);

  CHECK(http(port, "POST", path_of(bob, "/logout-all"), "", kAdmin).status == 204);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(user_token)).status == 401);
  CHECK(http(port, "POST", path_of(999999, "/logout-all"), "", kAdmin).status == 404);

  CHECK(http(port, "DELETE", path_of(bob), "", bearer(admin_session)).status == 204);
  CHECK(http(port, "GET", path_of(bob), "", kAdmin).status == 404);
  CHECK(http(port, "DELETE", path_of(bob), "", kAdmin).status == 404);
  CHECK(log_in_as(port, "bob").status == 401);
}

TEST_CASE("paging over more users than a page gives each once while users are added",
          "[e2e][admin]") {
  const auto url = fresh_database_url();
  AuthdServer server(url, admin_env());
  {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec(
        "INSERT INTO users (username, email, password_hash) SELECT 'user' || i, 'user' || i || "
        "'@example.com', 'x' FROM generate_series(1, 40) AS i");
  }
  std::set<std::int64_t> before;
  {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    for (const auto& row : tx.exec("SELECT id FROM users"))
      before.insert(row[0].as<std::int64_t>());
  }
  std::vector<std::int64_t> seen;
  std::string after;
  int added = 0;
  for (int page = 0; page < 20; ++page) {
    const auto r = http(server.port(), "GET",
                        "/api/v1/admin/users?query=USER&limit=7" +
                            (after.empty() ? std::string() : "&after=" + after),
                        "", kAdmin);
    REQUIRE(r.status == 200);
    const auto body = body_of(r);
    const auto& users = body.at("users").as_array();
    CHECK(users.size() <= 7);
    for (const auto& u : users) seen.push_back(u.at("id").as_int64());
    // Users arrive while the admin pages.
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec_params("INSERT INTO users (username, email, password_hash) VALUES ($1, $2, 'x')",
                   "user_new" + std::to_string(added),
                   "new" + std::to_string(added) + "@example.com");
    ++added;
    if (body.at("next").is_null()) break;
    after = std::string(body.at("next").as_string());
  }
  const std::set<std::int64_t> unique(seen.begin(), seen.end());
  CHECK(unique.size() == seen.size());  // no repeats
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  for (const auto id : before) CHECK(unique.count(id) == 1);  // no gaps
  CHECK(seen.size() > before.size());                         // and those added meanwhile follow
}

TEST_CASE("disabling and deleting a user holds on a second instance at once", "[e2e][admin]") {
  const auto url = fresh_database_url();
  AuthdServer a(url, admin_env());
  AuthdServer b(url, admin_env());
  const auto dora = sign_up(a.port(), "dora");
  const auto token = log_in(b.port(), "dora");
  REQUIRE(http(b.port(), "GET", "/api/v1/me", "", bearer(token)).status == 200);  // cached on b

  const auto disabled = http(a.port(), "PATCH", path_of(dora), R"({"disabled":true})", kAdmin);
  REQUIRE(disabled.status == 200);
  CHECK(body_of(disabled).at("user").at("disabled") == true);
  CHECK(eventually(
      [&] { return http(b.port(), "GET", "/api/v1/me", "", bearer(token)).status == 401; }));
  const auto refused = log_in_as(b.port(), "dora");
  CHECK(refused.status == 403);
  CHECK(body_of(refused).at("code") == "account_disabled");
  CHECK(log_in_as(b.port(), "dora", "wrong password").status == 401);  // says nothing more

  REQUIRE(http(a.port(), "PATCH", path_of(dora), R"({"disabled":false})", kAdmin).status == 200);
  const auto again = log_in(b.port(), "dora");
  REQUIRE(http(b.port(), "GET", "/api/v1/me", "", bearer(again)).status == 200);
  REQUIRE(http(a.port(), "DELETE", path_of(dora), "", kAdmin).status == 204);
  CHECK(eventually(
      [&] { return http(b.port(), "GET", "/api/v1/me", "", bearer(again)).status == 401; }));
  CHECK(log_in_as(b.port(), "dora").status == 401);
  CHECK(scalar(url, "SELECT count(*) FROM sessions") == "0");
}

TEST_CASE("my sessions: listed with public ids, one ended, another user's id is 404",
          "[e2e][admin][sessions]") {
  const auto url = fresh_database_url();
  AuthdServer server(url, admin_env());
  const auto port = server.port();
  sign_up(port, "erin");
  sign_up(port, "frank");
  const auto laptop = log_in(port, "erin", {{"User-Agent", "Laptop Browser/1.0"}});
  const auto phone = log_in(port, "erin", {{"User-Agent", "Phone Browser/2.0"}});
  const auto franks = log_in(port, "frank");

  CHECK(http(port, "GET", "/api/v1/sessions").status == 401);
  const auto listed = http(port, "GET", "/api/v1/sessions", "", bearer(laptop));
  REQUIRE(listed.status == 200);
  CHECK(listed.header("cache-control") == "no-store");
  const auto sessions = body_of(listed).at("sessions").as_array();
  REQUIRE(sessions.size() == 2);
  std::string phone_id;
  for (const auto& s : sessions) {
    const auto& o = s.as_object();
    const std::string id(o.at("id").as_string());
    CHECK(id.size() == 36);
    CHECK(id != laptop);
    CHECK(id != phone);
    CHECK(o.at("ip") == "127.0.0.1");
    CHECK(o.at("aal") == "aal1");
    CHECK_FALSE(std::string(o.at("last_seen_at").as_string()).empty());
    if (o.at("user_agent") == "Laptop Browser/1.0") {
      CHECK(o.at("current") == true);
    } else {
      CHECK(o.at("user_agent") == "Phone Browser/2.0");
      CHECK(o.at("current") == false);
      phone_id = id;
    }
  }
  REQUIRE_FALSE(phone_id.empty());
  // Nothing in the list is a token or its hash.
  CHECK(listed.body.find(phone) == std::string::npos);
  CHECK(listed.body.find(scalar(url,
                                "SELECT string_agg(encode(token_hash, 'hex'), ',') FROM "
                                "sessions")
                             .substr(0, 64)) == std::string::npos);

  // Another user's session, a malformed id, an unknown one: 404, and nothing ends.
  CHECK(http(port, "DELETE", "/api/v1/sessions/" + phone_id, "", bearer(franks)).status == 404);
  CHECK(http(port, "DELETE", "/api/v1/sessions/not-a-uuid", "", bearer(laptop)).status == 404);
  CHECK(http(port, "DELETE", "/api/v1/sessions/00000000-0000-0000-0000-000000000000", "",
             bearer(laptop))
            .status == 404);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(phone)).status == 200);

  CHECK(http(port, "DELETE", "/api/v1/sessions/" + phone_id, "", bearer(laptop)).status == 204);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(phone)).status == 401);
  CHECK(body_of(http(port, "GET", "/api/v1/sessions", "", bearer(laptop)))
            .at("sessions")
            .as_array()
            .size() == 1);
  CHECK(http(port, "DELETE", "/api/v1/sessions/" + phone_id, "", bearer(laptop)).status == 404);

  // last_seen_at: a check in a later minute moves it on; a check never waits for the write.
  const auto fresh = log_in(port, "frank");  // a session not yet read by this instance
  {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec("UPDATE sessions SET last_seen_at = now() - interval '10 minutes'");
  }
  REQUIRE(http(port, "GET", "/api/v1/me", "", bearer(fresh)).status == 200);
  REQUIRE(http(port, "GET", "/api/v1/sessions", "", bearer(fresh)).status == 200);
  CHECK(scalar(url,
               "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE "
               "u.username = 'frank' AND s.last_seen_at > now() - interval '1 minute'") ==
        "1");  // the session checked; frank's other one was not
  // A User-Agent with a control character is refused, not stored altered.
  CHECK(log_in_as(port, "erin", "correct horse", {{"User-Agent", "bad\x01agent"}}).status == 400);
}

TEST_CASE("the audit trail records each action, never a secret, and pages newest first",
          "[e2e][admin][audit]") {
  const auto url = fresh_database_url();
  AuthdServer server(url, admin_env());
  const auto port = server.port();
  const auto gina = sign_up(port, "gina");
  const auto hank = sign_up(port, "hank");
  const auto token = log_in(port, "gina", {{"User-Agent", "Audit Browser/3.1"}});
  const auto other = log_in(port, "gina");
  CHECK(log_in_as(port, "gina", "wrong password 1").status == 401);
  CHECK(http(port, "POST", "/api/v1/login", R"({"email":"nobody@example.com","password":"pw"})")
            .status == 401);
  REQUIRE(http(port, "POST", "/api/v1/password",
               R"({"current_password":"correct horse","new_password":"battery staple"})",
               bearer(token))
              .status == 204);
  const auto listed = body_of(http(port, "GET", "/api/v1/sessions", "", bearer(token)));
  (void)other;
  const auto third = log_in_as(port, "gina", "battery staple");
  REQUIRE(third.status == 200);
  const std::string third_token(body_of(third).at("token").as_string());
  const auto mine = body_of(http(port, "GET", "/api/v1/sessions", "", bearer(token)));
  std::string revoke_id;
  for (const auto& s : mine.at("sessions").as_array()) {
    if (s.at("current") == false) revoke_id = std::string(s.at("id").as_string());
  }
  REQUIRE_FALSE(revoke_id.empty());
  REQUIRE(http(port, "DELETE", "/api/v1/sessions/" + revoke_id, "", bearer(token)).status == 204);
  REQUIRE(http(port, "POST", "/api/v1/logout", "", bearer(token)).status == 204);
  const auto last = log_in_as(port, "gina", "battery staple");
  const std::string last_token(body_of(last).at("token").as_string());
  REQUIRE(http(port, "POST", "/api/v1/logout-all", "", bearer(last_token)).status == 204);
  REQUIRE(http(port, "PATCH", path_of(hank), R"({"role":"admin"})", kAdmin).status == 200);
  REQUIRE(http(port, "POST", path_of(hank, "/logout-all"), "", kAdmin).status == 204);
  REQUIRE(http(port, "POST", "/api/v1/admin/backups", "", kAdmin).status == 201);
  REQUIRE(http(port, "DELETE", path_of(hank), "", kAdmin).status == 204);

  // Events the batched writer holds are written within a moment.
  REQUIRE(eventually([&] {
    // The last of the batched writer's events are there too.
    return std::stoi(scalar(url,
                            "SELECT count(DISTINCT type) FROM audit_events WHERE type IN "
                            "('signup', 'logout', 'logout_all', 'password_changed', "
                            "'login')")) == 5 &&
           std::stoi(scalar(url, "SELECT count(*) FROM audit_events WHERE type = 'login'")) >= 5;
  }));
  const auto all = http(port, "GET", "/api/v1/admin/audit?limit=500", "", kAdmin);
  REQUIRE(all.status == 200);
  CHECK(all.header("cache-control") == "no-store");
  const auto events = body_of(all).at("events").as_array();
  std::set<std::string> types;
  std::int64_t previous = INT64_MAX;
  for (const auto& e : events) {
    types.insert(std::string(e.at("type").as_string()));
    CHECK(e.at("id").as_int64() < previous);  // newest first
    previous = e.at("id").as_int64();
  }
  for (const char* type :
       {"signup", "login", "password_changed", "session_revoked", "logout", "logout_all",
        "admin_user_updated", "admin_logout_all", "backup_created", "admin_user_deleted"}) {
    INFO(type);
    CHECK(types.count(type) == 1);
  }
  // A login's outcome, origin and actor.
  const auto logins =
      body_of(http(port, "GET", "/api/v1/admin/audit?type=login&user=" + std::to_string(gina), "",
                   kAdmin))
          .at("events")
          .as_array();
  std::set<std::string> outcomes;
  bool saw_agent = false;
  for (const auto& e : logins) {
    CHECK(e.at("user_id") == gina);
    CHECK(e.at("actor") == "self");
    CHECK(e.at("ip") == "127.0.0.1");
    CHECK_FALSE(std::string(e.at("request_id").as_string()).empty());
    outcomes.insert(std::string(e.at("detail").at("outcome").as_string()));
    saw_agent = saw_agent || e.at("user_agent") == "Audit Browser/3.1";
  }
  CHECK(outcomes == std::set<std::string>{"ok", "failed"});
  CHECK(saw_agent);
  const auto unknown =
      body_of(http(port, "GET", "/api/v1/admin/audit?type=login", "", kAdmin)).at("events");
  bool saw_unknown = false;
  for (const auto& e : unknown.as_array()) {
    if (e.at("user_id").is_null()) {
      saw_unknown = true;
      CHECK(e.at("detail").at("identifier") == "nobody@example.com");
    }
  }
  CHECK(saw_unknown);
  const auto admin_events =
      body_of(http(port, "GET", "/api/v1/admin/audit?type=admin_user_deleted", "", kAdmin))
          .at("events")
          .as_array();
  REQUIRE(admin_events.size() == 1);
  CHECK(admin_events[0].at("actor") == "admin_token");
  CHECK(admin_events[0].at("user_id") == hank);

  // Paging: pages of two, each older than the last, together the whole trail.
  std::vector<std::int64_t> paged;
  std::string after;
  for (int i = 0; i < 100; ++i) {
    const auto page = body_of(
        http(port, "GET", "/api/v1/admin/audit?limit=2" + (after.empty() ? "" : "&after=" + after),
             "", kAdmin));
    for (const auto& e : page.at("events").as_array()) paged.push_back(e.at("id").as_int64());
    if (page.at("next").is_null()) break;
    after = std::string(page.at("next").as_string());
  }
  CHECK(paged.size() == events.size());
  CHECK(std::is_sorted(paged.rbegin(), paged.rend()));

  CHECK(http(port, "GET", "/api/v1/admin/audit?type=nope", "", kAdmin).status == 400);
  CHECK(http(port, "GET", "/api/v1/admin/audit?user=x", "", kAdmin).status == 400);
  CHECK(http(port, "GET", "/api/v1/admin/audit").status == 401);

  // Never a secret: no password used above, no token, no stored hash.
  const std::string trail = scalar(url,
                                   "SELECT string_agg(row_to_json(a)::text, ' ') FROM "
                                   "audit_events a");
  for (const std::string& secret :
       {std::string("correct horse"), std::string("battery staple"), std::string("wrong password"),
        token, third_token, last_token, std::string(kAdminToken), std::string("pbkdf2")}) {
    INFO(secret);
    CHECK(trail.find(secret) == std::string::npos);
  }
  (void)listed;

  // Metrics count them by type.
  const auto metrics = http(port, "GET", "/metrics").body;
  CHECK_THAT(metrics, Catch::Contains("authd_audit_events_total{type=\"login\"}"));
  CHECK_THAT(metrics, Catch::Contains("authd_audit_events_total{type=\"admin_user_deleted\"} 1"));
}

TEST_CASE("audit events past AUTHD_AUDIT_RETENTION are purged", "[e2e][admin][audit]") {
  const auto url = fresh_database_url();
  {
    AuthdServer first(url, admin_env());  // migrates
  }
  {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec(
        "INSERT INTO audit_events (at, type, actor) SELECT now() - interval '2 days', 'login', "
        "'self' FROM generate_series(1, 12000)");
    tx.exec("INSERT INTO audit_events (at, type, actor) VALUES (now(), 'signup', 'self')");
  }
  AuthdServer server(url, {{"AUTHD_ADMIN_TOKEN", kAdminToken}, {"AUTHD_AUDIT_RETENTION", "1d"}});
  CHECK(eventually([&] { return scalar(url, "SELECT count(*) FROM audit_events") == "1"; }));
  CHECK(scalar(url, "SELECT type FROM audit_events") == "signup");
}
