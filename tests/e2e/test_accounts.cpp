#include <catch2/catch.hpp>

#include <future>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"

using namespace authd::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string cookie_of(const HttpResponse& response) {
  const auto set = response.header("set-cookie").value_or("");
  return set.substr(0, set.find(';'));
}

std::string signup_body(const std::string& username, const std::string& email,
                        const std::string& password = "correct horse") {
  return json::serialize(
      json::object{{"username", username}, {"email", email}, {"password", password}});
}

std::string token_of(const HttpResponse& response) {
  return std::string(json::parse(response.body).at("token").as_string());
}

Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

std::string code_of(const HttpResponse& response) {
  return std::string(json::parse(response.body).at("code").as_string());
}

}  // namespace

TEST_CASE("the original walk-through works verbatim", "[e2e][accounts]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  const auto signup = http(port, "GET", "/signup/jack/jack@g.com/some_random_password");
  CHECK(signup.status == 201);
  CHECK_THAT(signup.body, Catch::Contains("\"username\":\"jack\""));
  CHECK_THAT(signup.body, !Catch::Contains("pbkdf2"));
  const auto login = http(port, "GET", "/login/jack@g.com/some_random_password");
  REQUIRE(login.status == 200);
  const auto set_cookie = login.header("set-cookie").value_or("");
  CHECK_THAT(set_cookie, Catch::StartsWith("authd_session="));
  CHECK_THAT(set_cookie, Catch::Contains("HttpOnly"));
  CHECK_THAT(set_cookie, Catch::Contains("SameSite=Lax"));
  CHECK_THAT(set_cookie, Catch::Contains("Path=/"));
  CHECK_THAT(set_cookie, !Catch::Contains("Secure"));
  const Headers cookie = {{"Cookie", cookie_of(login)}};
  const auto me = http(port, "GET", "/api/v1/me", "", cookie);
  CHECK(me.status == 200);
  CHECK_THAT(me.body, Catch::Contains("\"email\":\"jack@g.com\""));
  const auto logout = http(port, "GET", "/logout", "", cookie);
  CHECK(logout.status == 200);
  CHECK(json::parse(logout.body).at("status") == "logged_out");
  CHECK(http(port, "GET", "/api/v1/me", "", cookie).status == 401);
  CHECK(http(port, "GET", "/logout").status == 200);

  server.stop();
  const auto log = server.process().output();
  CHECK_THAT(log, Catch::Contains("route=legacy_login"));
  CHECK_THAT(log, !Catch::Contains("some_random_password"));
  CHECK_THAT(log, !Catch::Contains("jack@g.com"));
  CHECK_THAT(log, !Catch::Contains("/login/"));
}

TEST_CASE("legacy path segments are percent-decoded", "[e2e][accounts]") {
  AuthdServer server(fresh_database_url());
  CHECK(http(server.port(), "GET", "/signup/ann/ann%40x.org/sl%2Fash%20y%25").status == 201);
  const auto login = http(server.port(), "POST", "/api/v1/login",
                          R"({"email":"ann@x.org","password":"sl/ash y%"})");
  CHECK(login.status == 200);
  CHECK(http(server.port(), "GET", "/signup/bob/b%zz/whatever1").status == 400);
}

TEST_CASE("AUTHD_LEGACY_ROUTES=off removes the legacy routes", "[e2e][accounts]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_LEGACY_ROUTES", "off"}});
  CHECK(http(server.port(), "GET", "/signup/jack/jack@g.com/some_random_password").status == 404);
  CHECK(http(server.port(), "GET", "/logout").status == 404);
  CHECK(http(server.port(), "GET", "/dump").status == 404);
  CHECK(http(server.port(), "POST", "/api/v1/signup", signup_body("jack", "jack@g.com")).status ==
        201);
}

TEST_CASE("signup answers 201, 400 with a code, and 409 case-insensitively", "[e2e][accounts]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  const auto created = http(port, "POST", "/api/v1/signup", signup_body("Alice", "Alice@Ex.com"));
  REQUIRE(created.status == 201);
  const auto user = json::parse(created.body).at("user");
  CHECK(user.at("username") == "Alice");
  CHECK(user.at("email") == "Alice@Ex.com");
  CHECK(user.at("role") == "user");
  CHECK(user.as_object().contains("created_at"));
  CHECK_FALSE(user.as_object().contains("password_hash"));

  const auto taken = http(port, "POST", "/api/v1/signup", signup_body("alice", "other@ex.com"));
  CHECK(taken.status == 409);
  CHECK(code_of(taken) == "username_taken");
  const auto email_taken = http(port, "POST", "/api/v1/signup", signup_body("bob", "ALICE@ex.com"));
  CHECK(email_taken.status == 409);
  CHECK(code_of(email_taken) == "email_taken");

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{not json", "malformed_json"},
      {"[]", "malformed_json"},
      {R"({"username":"bob","email":"b@ex.com"})", "missing_field"},
      {R"({"username":5,"email":"b@ex.com","password":"long enough"})", "wrong_type"},
      {signup_body("b", "b@ex.com"), "invalid_username"},
      {signup_body("bob", "not-an-email"), "invalid_email"},
      {signup_body("bob", "b@ex.com", "short"), "invalid_password"},
  };
  for (const auto& [body, code] : bad) {
    INFO(body);
    const auto response = http(port, "POST", "/api/v1/signup", body);
    CHECK(response.status == 400);
    CHECK(response.header("content-type") == "application/problem+json");
    CHECK(code_of(response) == code);
  }
}

TEST_CASE("two signups racing for one name: one 201, the others 409", "[e2e][accounts]") {
  AuthdServer server(fresh_database_url());
  std::vector<std::future<int>> racers;
  for (int i = 0; i < 8; ++i) {
    racers.push_back(std::async(std::launch::async, [&server, i] {
      return http(server.port(), "POST", "/api/v1/signup",
                  signup_body("racer", "racer" + std::to_string(i) + "@ex.com"))
          .status;
    }));
  }
  int created = 0, conflicts = 0;
  for (auto& r : racers) {
    const int status = r.get();
    created += status == 201;
    conflicts += status == 409;
  }
  CHECK(created == 1);
  CHECK(conflicts == 7);
}

TEST_CASE("login by email or username, wrong password and unknown user look the same",
          "[e2e][accounts]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("carol", "carol@ex.com")).status == 201);
  const auto by_email =
      http(port, "POST", "/api/v1/login", R"({"email":"CAROL@ex.com","password":"correct horse"})");
  CHECK(by_email.status == 200);
  const auto body = json::parse(by_email.body);
  CHECK(body.at("token").as_string().size() == 43);
  CHECK(body.as_object().contains("expires_at"));
  const auto by_name =
      http(port, "POST", "/api/v1/login", R"({"username":"Carol","password":"correct horse"})");
  CHECK(by_name.status == 200);
  CHECK(token_of(by_name) != token_of(by_email));

  const auto wrong =
      http(port, "POST", "/api/v1/login", R"({"email":"carol@ex.com","password":"wrong horse"})");
  const auto unknown =
      http(port, "POST", "/api/v1/login", R"({"email":"nobody@ex.com","password":"wrong horse"})");
  CHECK(wrong.status == 401);
  CHECK(unknown.status == 401);
  CHECK(wrong.body == unknown.body);
  CHECK(http(port, "POST", "/api/v1/login", R"({"password":"x"})").status == 400);
  CHECK(http(port, "POST", "/api/v1/login", R"({"email":"a@b.c","username":"a","password":"x"})")
            .status == 400);
  CHECK(http(port, "POST", "/api/v1/login", R"({"email":"a@b.c","password":7})").status == 400);
}

TEST_CASE("an unknown email takes as long as a wrong password", "[e2e][accounts]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_PBKDF2_ITERATIONS", "300000"},
                                            {"AUTHD_LOGIN_LIMIT_ACCOUNT", "1000/15m"}});
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("dave", "dave@ex.com")).status == 201);
  const auto time_of = [port](const std::string& email) {
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) {
      CHECK(http(port, "POST", "/api/v1/login",
                 R"({"email":")" + email + R"(","password":"wrong horse"})")
                .status == 401);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  const double known = time_of("dave@ex.com");
  const double unknown = time_of("nobody@ex.com");
  CHECK(unknown > known * 0.6);
  CHECK(unknown < known * 1.6);
}

TEST_CASE("logout, me, password and logout-all answer as API.md says", "[e2e][accounts]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("erin", "erin@ex.com")).status == 201);
  const auto login = [port](const std::string& password) {
    return http(port, "POST", "/api/v1/login",
                R"({"username":"erin","password":")" + password + R"("})");
  };
  const std::string first = token_of(login("correct horse"));
  const std::string second = token_of(login("correct horse"));

  const auto me = http(port, "GET", "/api/v1/me", "", bearer(first));
  CHECK(me.status == 200);
  CHECK(json::parse(me.body).at("session").as_object().contains("expires_at"));
  CHECK(http(port, "GET", "/api/v1/me").status == 401);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer("garbage")).status == 401);

  CHECK(http(port, "POST", "/api/v1/password",
             R"({"current_password":"wrong horse","new_password":"battery staple"})", bearer(first))
            .status == 401);
  CHECK(http(port, "POST", "/api/v1/password",
             R"({"current_password":"correct horse","new_password":"short"})", bearer(first))
            .status == 400);
  CHECK(http(port, "POST", "/api/v1/password", R"({"current_password":"correct horse"})",
             bearer(first))
            .status == 400);
  CHECK(http(port, "POST", "/api/v1/password",
             R"({"current_password":"correct horse","new_password":"battery staple"})")
            .status == 401);
  CHECK(http(port, "POST", "/api/v1/password",
             R"({"current_password":"correct horse","new_password":"battery staple"})",
             bearer(first))
            .status == 204);
  // The other session ended, this one stays; the old password no longer works.
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(second)).status == 401);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(first)).status == 200);
  CHECK(login("correct horse").status == 401);
  const std::string third = token_of(login("battery staple"));

  const auto logout = http(port, "POST", "/api/v1/logout", "", bearer(third));
  CHECK(logout.status == 204);
  CHECK_THAT(logout.header("set-cookie").value_or(""), Catch::Contains("Max-Age=0"));
  CHECK(http(port, "POST", "/api/v1/logout", "", bearer(third)).status == 401);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(first)).status == 200);

  const std::string fourth = token_of(login("battery staple"));
  CHECK(http(port, "POST", "/api/v1/logout-all", "", bearer(fourth)).status == 204);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(first)).status == 401);
  CHECK(http(port, "GET", "/api/v1/me", "", bearer(fourth)).status == 401);
  CHECK(http(port, "POST", "/api/v1/logout-all", "", bearer(fourth)).status == 401);
}

TEST_CASE("a session made on one instance works on another, a logout on either ends it",
          "[e2e][accounts]") {
  const auto url = fresh_database_url();
  AuthdServer a(url);
  AuthdServer b(url);
  REQUIRE(http(a.port(), "POST", "/api/v1/signup", signup_body("fay", "fay@ex.com")).status == 201);
  const std::string token = token_of(
      http(a.port(), "POST", "/api/v1/login", R"({"username":"fay","password":"correct horse"})"));
  CHECK(http(b.port(), "GET", "/api/v1/me", "", bearer(token)).status == 200);
  CHECK(http(b.port(), "POST", "/api/v1/logout", "", bearer(token)).status == 204);
  CHECK(http(a.port(), "GET", "/api/v1/me", "", bearer(token)).status == 401);
}

TEST_CASE("login limits hold across two instances on one database", "[e2e][accounts]") {
  const auto url = fresh_database_url();
  const std::map<std::string, std::string> limits = {{"AUTHD_LOGIN_LIMIT_ACCOUNT", "3/15m"},
                                                     {"AUTHD_LOGIN_LIMIT_ADDRESS", "4/15m"}};
  AuthdServer a(url, limits);
  AuthdServer b(url, limits);
  REQUIRE(http(a.port(), "POST", "/api/v1/signup", signup_body("gus", "gus@ex.com")).status == 201);
  const auto attempt = [](unsigned short port, const std::string& who, const std::string& pw) {
    return http(port, "POST", "/api/v1/login",
                R"({"email":")" + who + R"(","password":")" + pw + R"("})");
  };
  CHECK(attempt(a.port(), "gus@ex.com", "wrong one!").status == 401);
  CHECK(attempt(b.port(), "gus@ex.com", "wrong one!").status == 401);
  CHECK(attempt(a.port(), "GUS@ex.com", "wrong one!").status == 401);
  // The fourth attempt, on the other instance and with the right password, is refused.
  const auto limited = attempt(b.port(), "gus@ex.com", "correct horse");
  CHECK(limited.status == 429);
  CHECK(code_of(limited) == "too_many_attempts");
  CHECK(std::stoi(limited.header("retry-after").value_or("0")) > 0);
  // The legacy route shares the account's limit.
  CHECK(http(a.port(), "GET", "/login/gus@ex.com/correct%20horse").status == 429);

  // Per address: failures on other accounts from the same address add up.
  CHECK(attempt(a.port(), "x1@ex.com", "wrong one!").status == 401);
  CHECK(attempt(b.port(), "x2@ex.com", "wrong one!").status == 429);
}

TEST_CASE("behind a trusted proxy the client is the right-most untrusted X-Forwarded-For hop",
          "[e2e][accounts]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_TRUSTED_PROXIES", "127.0.0.0/8"},
                                            {"AUTHD_LOGIN_LIMIT_ADDRESS", "2/15m"},
                                            {"AUTHD_LOGIN_LIMIT_ACCOUNT", "100/15m"}});
  const auto attempt = [&server](const std::string& forwarded, int i) {
    return http(server.port(), "POST", "/api/v1/login",
                R"({"email":"u)" + std::to_string(i) + R"(@ex.com","password":"wrong one!"})",
                {{"X-Forwarded-For", forwarded}})
        .status;
  };
  CHECK(attempt("203.0.113.9, 127.0.0.2", 1) == 401);
  CHECK(attempt("198.51.100.1, 203.0.113.9", 2) == 401);
  CHECK(attempt("203.0.113.9", 3) == 429);
  // Another client behind the same proxy is not limited.
  CHECK(attempt("203.0.113.10", 4) == 401);
}

TEST_CASE("a full hashing queue answers 503 overloaded with Retry-After", "[e2e][accounts]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_PBKDF2_ITERATIONS", "2000000"},
                                            {"AUTHD_HASH_THREADS", "1"},
                                            {"AUTHD_HASH_QUEUE", "1"}});
  std::vector<std::future<HttpResponse>> calls;
  for (int i = 0; i < 6; ++i) {
    calls.push_back(std::async(std::launch::async, [&server, i] {
      return http(server.port(), "POST", "/api/v1/signup",
                  signup_body("busy" + std::to_string(i), "busy" + std::to_string(i) + "@ex.com"));
    }));
  }
  int overloaded = 0, created = 0;
  for (auto& call : calls) {
    const auto response = call.get();
    if (response.status == 503) {
      ++overloaded;
      CHECK(code_of(response) == "overloaded");
      CHECK(response.header("retry-after"));
    }
    created += response.status == 201;
  }
  CHECK(overloaded >= 1);
  CHECK(created >= 1);
  // A session check does not hash and still answers at once.
  CHECK(http(server.port(), "GET", "/healthz").status == 200);
}

TEST_CASE("a stored hash with fewer iterations is upgraded at the next login", "[e2e][accounts]") {
  const auto url = fresh_database_url();
  {
    AuthdServer old_cost(url, {{"AUTHD_PBKDF2_ITERATIONS", "1000"}});
    REQUIRE(
        http(old_cost.port(), "POST", "/api/v1/signup", signup_body("hal", "hal@ex.com")).status ==
        201);
  }
  AuthdServer new_cost(url, {{"AUTHD_PBKDF2_ITERATIONS", "2000"}});
  const auto login = R"({"username":"hal","password":"correct horse"})";
  CHECK(http(new_cost.port(), "POST", "/api/v1/login", login).status == 200);
  const auto dump = run("/usr/bin/psql", {url, "-XAtc", "SELECT password_hash FROM users"});
  CHECK_THAT(dump.output, Catch::StartsWith("$pbkdf2-sha256$i=2000$"));
  CHECK(http(new_cost.port(), "POST", "/api/v1/login", login).status == 200);
}

TEST_CASE("the user commands create users and grant admin, password from stdin",
          "[e2e][accounts]") {
  const auto url = fresh_database_url();
  const auto created =
      run(AUTHD_BINARY, {"user", "create", "--username", "ivy", "--email", "ivy@ex.com"},
          base_env(url), "stdin password\n");
  CHECK(created.code == 0);
  CHECK_THAT(created.output, Catch::Contains("\"role\":\"user\""));
  CHECK_THAT(created.output, !Catch::Contains("stdin password"));
  const auto duplicate =
      run(AUTHD_BINARY, {"user", "create", "--username", "ivy", "--email", "x@ex.com"},
          base_env(url), "stdin password\n");
  CHECK(duplicate.code == 1);
  CHECK(run(AUTHD_BINARY, {"user", "grant-admin", "IVY@ex.com"}, base_env(url)).code == 0);
  CHECK(run(AUTHD_BINARY, {"user", "grant-admin", "nobody@ex.com"}, base_env(url)).code == 1);
  AuthdServer server(url);
  const auto login = http(server.port(), "POST", "/api/v1/login",
                          R"({"email":"ivy@ex.com","password":"stdin password"})");
  CHECK(login.status == 200);
  CHECK(json::parse(login.body).at("user").at("role") == "admin");
  {
    // The grant is an admin action of the command line, in the audit trail.
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    const auto events = tx.exec(
        "SELECT actor, detail->>'role' FROM audit_events WHERE type = 'admin_user_updated'");
    REQUIRE(events.size() == 1);
    CHECK(events[0][0].as<std::string>() == "cli");
    CHECK(events[0][1].as<std::string>() == "admin");
  }
}
