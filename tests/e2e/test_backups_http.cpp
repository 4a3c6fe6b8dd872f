#include <catch2/catch.hpp>

#include <cstdio>
#include <future>

#include <boost/json/parse.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace authd::test;
namespace json = boost::json;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
constexpr const char* kAdminToken = "test-admin-token-0123456789abcdef0123456789";

std::string login_token(unsigned short port, const std::string& email) {
  const auto response = http(port, "POST", "/api/v1/login",
                             R"({"email":")" + email + R"(","password":"correct horse"})");
  REQUIRE(response.status == 200);
  return std::string(json::parse(response.body).at("token").as_string());
}

void signup(unsigned short port, const std::string& name) {
  REQUIRE(http(port, "POST", "/api/v1/signup",
               R"({"username":")" + name + R"(","email":")" + name +
                   R"(@ex.com","password":"correct horse"})")
              .status == 201);
}

}  // namespace

TEST_CASE("backups need an admin: none 401, user 403, admin session or token ok", "[e2e][backup]") {
  const auto url = fresh_database_url();
  AuthdServer server(url, {{"AUTHD_ADMIN_TOKEN", kAdminToken}});
  const auto port = server.port();
  signup(port, "user1");
  signup(port, "boss");
  REQUIRE(run(AUTHD_BINARY, {"user", "grant-admin", "boss@ex.com"}, base_env(url)).code == 0);
  const Headers user = {{"Authorization", "Bearer " + login_token(port, "user1@ex.com")}};
  const Headers admin = {{"Authorization", "Bearer " + login_token(port, "boss@ex.com")}};
  const Headers token = {{"Authorization", std::string("Bearer ") + kAdminToken}};
  const Headers wrong = {{"Authorization", "Bearer not-the-token"}};

  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/api/v1/admin/backups"},
                                                        {"GET", "/api/v1/admin/backups"},
                                                        {"GET", "/api/v1/admin/backups/latest"},
                                                        {"GET", "/dump"},
                                                        {"GET", "/showbackup"}}) {
    INFO(method << " " << path);
    CHECK(http(port, method, path).status == 401);
    CHECK(http(port, method, path, "", wrong).status == 401);
    CHECK(http(port, method, path, "", user).status == 403);
  }
  const auto by_session = http(port, "POST", "/api/v1/admin/backups", "", admin);
  CHECK(by_session.status == 201);
  const auto by_token = http(port, "GET", "/dump", "", token);
  CHECK(by_token.status == 201);
  const auto meta = json::parse(by_token.body);
  CHECK(meta.at("rows") == 2);
  for (const char* field : {"id", "file", "rows", "bytes", "sha256", "created_at", "duration_ms"}) {
    CHECK(meta.as_object().contains(field));
  }
}

TEST_CASE("backups are listed newest first and downloaded whole as CSV", "[e2e][backup]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_ADMIN_TOKEN", kAdminToken}});
  const auto port = server.port();
  const Headers token = {{"Authorization", std::string("Bearer ") + kAdminToken}};
  CHECK(http(port, "GET", "/api/v1/admin/backups/latest", "", token).status == 404);
  signup(port, "kim");
  const auto first = json::parse(http(port, "POST", "/api/v1/admin/backups", "", token).body);
  signup(port, "lee");
  const auto second = json::parse(http(port, "POST", "/api/v1/admin/backups", "", token).body);

  const auto list = json::parse(http(port, "GET", "/api/v1/admin/backups", "", token).body);
  const auto& backups = list.at("backups").as_array();
  REQUIRE(backups.size() == 2);
  CHECK(backups[0].at("id") == second.at("id"));
  CHECK(backups[1].at("id") == first.at("id"));

  const auto latest = http(port, "GET", "/showbackup", "", token);
  CHECK(latest.status == 200);
  CHECK_THAT(latest.header("content-type").value_or(""), Catch::StartsWith("text/csv"));
  CHECK_THAT(latest.header("content-disposition").value_or(""),
             Catch::Contains(std::string(second.at("file").as_string())));
  CHECK(static_cast<std::int64_t>(latest.body.size()) == second.at("bytes").as_int64());
  CHECK_THAT(latest.body, Catch::StartsWith(
                 "id,username,email,password_hash,role,created_at,totp_secret,recovery_codes\n"));
  CHECK_THAT(latest.body, Catch::Contains("lee@ex.com"));

  const auto older = http(
      port, "GET", "/api/v1/admin/backups/" + std::to_string(first.at("id").as_int64()), "", token);
  CHECK(older.status == 200);
  CHECK_THAT(older.body, !Catch::Contains("lee@ex.com"));
  CHECK(http(port, "GET", "/api/v1/admin/backups/999", "", token).status == 404);
  CHECK(http(port, "GET", "/api/v1/admin/backups/abc", "", token).status == 404);
}

TEST_CASE("a backup whose file has gone is reported, not served half", "[e2e][backup]") {
  const TempDir temp_dir("authd-test-backups-");
  const std::string& dir = temp_dir.path();
  AuthdServer server(fresh_database_url(),
                     {{"AUTHD_ADMIN_TOKEN", kAdminToken}, {"AUTHD_BACKUP_DIR", dir}});
  const Headers token = {{"Authorization", std::string("Bearer ") + kAdminToken}};
  const auto meta = json::parse(http(server.port(), "GET", "/dump", "", token).body);
  const std::string path = dir + "/" + std::string(meta.at("file").as_string());
  REQUIRE(std::remove(path.c_str()) == 0);
  const auto gone = http(server.port(), "GET", "/showbackup", "", token);
  CHECK(gone.status == 410);
  CHECK(gone.header("content-type") == "application/problem+json");
}

TEST_CASE("two backups requested at once: one is written, the other gets 409 or waits",
          "[e2e][backup]") {
  const auto url = fresh_database_url();
  run("/usr/bin/psql",
      {url, "-Xqc",
       "INSERT INTO users (username, email, password_hash) SELECT 'u' || g, 'u' || g || "
       "'@ex.com', '$pbkdf2-sha256$i=1000$AAAAAAAAAAAAAAAAAAAAAA$"
       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' FROM generate_series(1, 20000) g"});
  AuthdServer server(url, {{"AUTHD_ADMIN_TOKEN", kAdminToken}});
  const Headers token = {{"Authorization", std::string("Bearer ") + kAdminToken}};
  auto a = std::async(std::launch::async, [&] {
    return http(server.port(), "POST", "/api/v1/admin/backups", "", token);
  });
  auto b = std::async(std::launch::async, [&] {
    return http(server.port(), "POST", "/api/v1/admin/backups", "", token);
  });
  const auto ra = a.get();
  const auto rb = b.get();
  CHECK((ra.status == 201 || rb.status == 201));
  for (const auto& r : {ra, rb}) CHECK((r.status == 201 || r.status == 409));
}

TEST_CASE("backup create and restore on the command line round-trip users who can log in",
          "[e2e][backup]") {
  const TempDir temp_dir("authd-test-backups-");
  const std::string& dir = temp_dir.path();
  const auto source = fresh_database_url();
  std::string file;
  {
    AuthdServer server(source);
    signup(server.port(), "olga");
    signup(server.port(), "pete");
  }
  auto env = base_env(source);
  env["AUTHD_BACKUP_DIR"] = dir;
  const auto created = run(AUTHD_BINARY, {"backup", "create"}, env);
  REQUIRE(created.code == 0);
  const auto meta = json::parse(created.output.substr(created.output.find('{')));
  CHECK(meta.at("rows") == 2);
  file = dir + "/" + std::string(meta.at("file").as_string());

  const auto target = fresh_database_url();
  const auto restored = run(AUTHD_BINARY, {"backup", "restore", file}, base_env(target));
  INFO(restored.output);
  CHECK(restored.code == 0);
  // Loading the same rows again clashes and changes nothing.
  const auto again = run(AUTHD_BINARY, {"backup", "restore", file}, base_env(target));
  CHECK(again.code != 0);
  CHECK_THAT(again.output, Catch::Contains("olga"));

  AuthdServer server(target);
  CHECK(http(server.port(), "POST", "/api/v1/login",
             R"({"email":"pete@ex.com","password":"correct horse"})")
            .status == 200);
  // New users get ids after the restored ones.
  const auto next = http(server.port(), "POST", "/api/v1/signup",
                         R"({"username":"quinn","email":"q@ex.com","password":"correct horse"})");
  REQUIRE(next.status == 201);
  CHECK(json::parse(next.body).at("user").at("id").as_int64() > 2);
}
