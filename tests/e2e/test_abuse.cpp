#include <catch2/catch.hpp>

#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"

using namespace authd::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string signup_body(const std::string& username, const std::string& email,
                        const std::string& password = "correct horse") {
  return json::serialize(
      json::object{{"username", username}, {"email", email}, {"password", password}});
}

std::string login_body(const std::string& field, const std::string& identifier,
                       const std::string& password) {
  return json::serialize(json::object{{field, identifier}, {"password", password}});
}

std::string code_of(const HttpResponse& response) {
  const auto body = json::parse(response.body);
  return std::string(body.at("code").as_string());
}

int retry_after(const HttpResponse& response) {
  return std::stoi(response.header("retry-after").value_or("0"));
}

HttpResponse json_login(unsigned short port, const std::string& field,
                        const std::string& identifier, const std::string& password,
                        const Headers& headers = {}) {
  return http(port, "POST", "/api/v1/login", login_body(field, identifier, password), headers);
}

}  // namespace

TEST_CASE("50 simultaneous wrong logins for one account: at most 10 are 401, the rest 429",
          "[e2e][abuse]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("ann", "ann@ex.com")).status == 201);
  std::promise<void> go;
  std::shared_future<void> start = go.get_future().share();
  std::vector<std::future<int>> attempts;
  for (int i = 0; i < 50; ++i) {
    attempts.push_back(std::async(std::launch::async, [port, start, i] {
      HttpClient client(port);  // each its own connection, opened before the start
      start.wait();
      return client
          .request("POST", "/api/v1/login",
                   login_body("email", "ann@ex.com", "wrong guess " + std::to_string(i)))
          .status;
    }));
  }
  std::this_thread::sleep_for(200ms);
  go.set_value();
  int unauthorized = 0, limited = 0;
  for (auto& attempt : attempts) {
    const int status = attempt.get();
    unauthorized += status == 401;
    limited += status == 429;
  }
  CHECK(unauthorized <= 10);
  CHECK(unauthorized + limited == 50);
  const auto right = json_login(port, "email", "ann@ex.com", "correct horse");
  CHECK(right.status == 429);
  CHECK(code_of(right) == "too_many_attempts");
  CHECK(retry_after(right) > 0);
}

TEST_CASE("JSON email, JSON username and the legacy route share one account's limit",
          "[e2e][abuse]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("Bob", "Bob@ex.com")).status == 201);
  for (int i = 0; i < 10; ++i) {
    HttpResponse failed;
    if (i % 3 == 0) failed = json_login(port, "email", "bob@EX.com", "wrong one!");
    if (i % 3 == 1) failed = json_login(port, "username", "BOB", "wrong one!");
    if (i % 3 == 2) failed = http(port, "GET", "/login/bob%40ex.com/wrong%20one!");
    CHECK(failed.status == 401);
  }
  const auto eleventh = json_login(port, "username", "bob", "correct horse");
  CHECK(eleventh.status == 429);
  CHECK(retry_after(eleventh) > 0);
  CHECK(http(port, "GET", "/login/Bob@ex.com/correct%20horse").status == 429);
}

TEST_CASE("the address limit keys an IPv6 client by its /64 and IPv4-mapped as IPv4",
          "[e2e][abuse]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_TRUSTED_PROXIES", "127.0.0.1/32"},
                                            {"AUTHD_LOGIN_LIMIT_ADDRESS", "5/15m"}});
  const auto port = server.port();
  const auto attempt = [port](const std::string& client, const std::string& who) {
    return json_login(port, "email", who + "@ex.com", "wrong one!", {{"X-Forwarded-For", client}});
  };
  for (const char* host : {"a", "b", "c", "d", "e"}) {
    CHECK(attempt(std::string("2001:db8:1:2::") + host, std::string("u") + host).status == 401);
  }
  const auto limited = attempt("2001:db8:1:2:ffff::f", "uf");
  CHECK(limited.status == 429);
  CHECK(retry_after(limited) > 0);
  CHECK(attempt("2001:db8:1:2::a", "ug").status == 429);
  // Another /64 is another client.
  CHECK(attempt("2001:db8:1:3::a", "uh").status == 401);

  for (int i = 0; i < 5; ++i) {
    CHECK(attempt("::ffff:192.0.2.1", "m" + std::to_string(i)).status == 401);
  }
  CHECK(attempt("192.0.2.1", "m9").status == 429);
  CHECK(attempt("192.0.2.2", "m9").status == 401);
}

TEST_CASE("wrong current passwords count as failed logins of the account", "[e2e][abuse]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("cyd", "cyd@ex.com")).status == 201);
  const auto login = json_login(port, "username", "cyd", "correct horse");
  REQUIRE(login.status == 200);
  const Headers bearer = {
      {"Authorization", "Bearer " + std::string(json::parse(login.body).at("token").as_string())}};
  const auto change = [&](const std::string& current) {
    return http(port, "POST", "/api/v1/password",
                json::serialize(json::object{{"current_password", current},
                                             {"new_password", "battery staple"}}),
                bearer);
  };
  for (int i = 0; i < 3; ++i)
    CHECK(json_login(port, "email", "cyd@ex.com", "nope nope").status == 401);
  for (int i = 0; i < 7; ++i) {
    const auto wrong = change("guess number " + std::to_string(i));
    CHECK(wrong.status == 401);
    CHECK(code_of(wrong) == "invalid_credentials");
  }
  const auto limited = change("correct horse");
  CHECK(limited.status == 429);
  CHECK(retry_after(limited) > 0);
  CHECK(json_login(port, "username", "cyd", "correct horse").status == 429);
  // Nothing changed.
  CHECK(http(port, "GET", "/api/v1/me", "", bearer).status == 200);
}

TEST_CASE("AUTHD_SIGNUP_LIMIT_ADDRESS limits sign-ups per client address, off disables it",
          "[e2e][abuse]") {
  {
    AuthdServer server(fresh_database_url(), {{"AUTHD_SIGNUP_LIMIT_ADDRESS", "3/1h"}});
    const auto port = server.port();
    for (int i = 0; i < 3; ++i) {
      const auto n = std::to_string(i);
      CHECK(http(port, "POST", "/api/v1/signup", signup_body("user" + n, "u" + n + "@ex.com"))
                .status == 201);
    }
    const auto fourth = http(port, "POST", "/api/v1/signup", signup_body("user3", "u3@ex.com"));
    CHECK(fourth.status == 429);
    CHECK(code_of(fourth) == "too_many_signups");
    CHECK(retry_after(fourth) > 3000);
    // The legacy route is the same sign-up.
    CHECK(http(port, "GET", "/signup/user4/u4@ex.com/correct%20horse").status == 429);
  }
  {
    AuthdServer server(fresh_database_url(), {{"AUTHD_SIGNUP_LIMIT_ADDRESS", "off"}});
    for (int i = 0; i < 5; ++i) {
      const auto n = std::to_string(i);
      CHECK(http(server.port(), "POST", "/api/v1/signup",
                 signup_body("free" + n, "f" + n + "@ex.com"))
                .status == 201);
    }
  }
}

TEST_CASE("NUL, bad UTF-8 and control characters are 400 with the field's code, never 200 or 500",
          "[e2e][abuse]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("ann", "ann@ex.com")).status == 201);

  struct Case {
    std::string method, target, body, code;
  };
  const std::string nul("\0", 1);
  const std::vector<Case> cases = {
      {"POST", "/api/v1/login", login_body("email", "ann@ex.com" + nul + "x", "correct horse"),
       "invalid_login"},
      {"POST", "/api/v1/login", login_body("username", "ann" + nul, "correct horse"),
       "invalid_login"},
      {"POST", "/api/v1/login", login_body("username", "ann\x1b", "correct horse"),
       "invalid_login"},
      {"POST", "/api/v1/login", login_body("email", "ann@ex.com\n", "correct horse"),
       "invalid_login"},
      {"GET", "/login/ann%40ex.com%00x/correct%20horse", "", "invalid_login"},
      {"GET", "/login/ann%40ex.com%0a/correct%20horse", "", "invalid_login"},
      {"GET", "/login/%FF@x.io/password1", "", "invalid_login"},
      {"GET", "/login/ann%40ex.com/correct%20horse%FF", "", "invalid_password"},
      {"POST", "/api/v1/signup", signup_body("bob" + nul, "bob@ex.com"), "invalid_username"},
      {"POST", "/api/v1/signup", signup_body("bob", "bob@ex.com" + nul), "invalid_email"},
      {"POST", "/api/v1/signup", signup_body("bob", "bob@ex.com", "correct horse" + nul),
       "invalid_password"},
      {"POST", "/api/v1/signup", signup_body("bob", "bob@ex.com", "correct\x07horse"),
       "invalid_password"},
      {"GET", "/signup/bob%00/bob@ex.com/correct%20horse", "", "invalid_username"},
      {"GET", "/signup/b%FFb/bob@ex.com/correct%20horse", "", "invalid_username"},
      {"GET", "/signup/bob/bob%00@ex.com/correct%20horse", "", "invalid_email"},
      {"GET", "/signup/bob/b%FF@ex.com/correct%20horse", "", "invalid_email"},
      {"GET", "/signup/bob/bob@ex.com/correct%00horse", "", "invalid_password"},
      {"GET", "/signup/bob/bob@ex.com/correct%FFhorse", "", "invalid_password"},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.target << " " << c.body);
    const auto response = http(port, c.method, c.target, c.body);
    CHECK(response.status == 400);
    CHECK(code_of(response) == c.code);
  }
  // Raw bytes that are not UTF-8 in a JSON body: not JSON.
  CHECK(http(port, "POST", "/api/v1/login",
             "{\"email\":\"ann@ex.com\xff\",\"password\":\"correct horse\"}")
            .status == 400);
  // A password with a NUL is a guess that never matches.
  CHECK(json_login(port, "email", "ann@ex.com", "correct horse" + nul).status == 401);
  CHECK(http(port, "GET", "/login/ann%40ex.com/correct%20horse%00").status == 401);
  CHECK(http(port, "POST", "/api/v1/signup", signup_body("bob", "bob@ex.com")).status == 201);
  // Nobody else's account was reached, and ann still logs in.
  CHECK(json_login(port, "email", "ann@ex.com", "correct horse").status == 200);
  CHECK(http(port, "GET", "/metrics").body.find("status=\"500\"") == std::string::npos);
}

TEST_CASE("a 4 KB random login identifier is 400 invalid_login, not a 401", "[e2e][abuse]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  std::mt19937 random(20240611);
  const std::string letters = "abcdefghijklmnopqrstuvwxyz0123456789._-";
  std::string identifier;
  for (int i = 0; i < 4096; ++i) identifier += letters[random() % letters.size()];
  for (const char* field : {"email", "username"}) {
    INFO(field);
    const auto response = json_login(port, field, identifier + "@ex.com", "correct horse");
    CHECK(response.status == 400);
    CHECK(code_of(response) == "invalid_login");
  }
  const auto legacy = http(port, "GET", "/login/" + identifier + "/correct%20horse");
  CHECK(legacy.status == 400);
  CHECK(code_of(legacy) == "invalid_login");
  // Random bytes, mostly not UTF-8, are refused the same way.
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes += static_cast<char>(0x80 + random() % 0x80);
  std::string escaped;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const unsigned char b : bytes) {
    escaped += '%';
    escaped += kHex[b >> 4];
    escaped += kHex[b & 0xF];
  }
  const auto garbage = http(port, "GET", "/login/" + escaped + "/correct%20horse");
  CHECK(garbage.status == 400);
  CHECK(code_of(garbage) == "invalid_login");
}
