#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/json/parse.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace authd::test;
namespace json = boost::json;

namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// A throwaway CA-less certificate for 127.0.0.1 made by the openssl command.
void make_certificate(const std::string& dir) {
  const auto made =
      run("/usr/bin/openssl", {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                               "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"});
  REQUIRE(made.code == 0);
}

}  // namespace

TEST_CASE("/metrics passes promtool check metrics after some traffic", "[e2e][ops]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();
  http(port, "POST", "/api/v1/signup",
       R"({"username":"mia","email":"mia@ex.com","password":"correct horse"})");
  http(port, "POST", "/api/v1/login", R"({"email":"mia@ex.com","password":"correct horse"})");
  http(port, "POST", "/api/v1/login", R"({"email":"mia@ex.com","password":"wrong horse"})");
  http(port, "GET", "/nowhere");
  const auto metrics = http(port, "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK_THAT(metrics.header("content-type").value_or(""), Catch::StartsWith("text/plain"));
  CHECK_THAT(metrics.body,
             Catch::Contains(R"(authd_http_requests_total{route="signup",status="201"} 1)"));
  CHECK_THAT(metrics.body, Catch::Contains(R"(authd_logins_total{outcome="ok"} 1)"));
  CHECK_THAT(metrics.body, Catch::Contains(R"(authd_logins_total{outcome="bad_credentials"} 1)"));
  CHECK_THAT(
      metrics.body,
      Catch::Contains("authd_http_request_duration_seconds_bucket{route=\"login\",le=\"0.0001\"}"));
  CHECK_THAT(metrics.body, Catch::Contains("authd_pbkdf2_jobs_waiting"));
  CHECK_THAT(metrics.body, Catch::Contains("authd_db_pool_in_use"));
  CHECK_THAT(metrics.body, Catch::Contains("authd_sessions_created_total 1"));

  const TempDir temp_dir("authd-test-");
  const std::string& dir = temp_dir.path();
  write_file(dir + "/metrics.txt", metrics.body);
  const auto check = run("/bin/sh", {"-c", "promtool check metrics < " + dir + "/metrics.txt"});
  INFO(check.output);
  CHECK(check.code == 0);
}

TEST_CASE("a request id is echoed, or one is made", "[e2e][ops]") {
  AuthdServer server(fresh_database_url());
  const auto given = http(server.port(), "GET", "/healthz", "", {{"X-Request-Id", "abc-123.x"}});
  CHECK(given.header("x-request-id") == "abc-123.x");
  // Anything unsafe to log is replaced.
  const auto unsafe =
      http(server.port(), "GET", "/healthz", "", {{"X-Request-Id", "evil\" value"}});
  CHECK(unsafe.header("x-request-id").value_or("evil") != "evil\" value");
  CHECK(unsafe.header("x-request-id").value_or("").size() == 16);
  server.stop();
  CHECK_THAT(server.process().output(), Catch::Contains("id=abc-123.x"));
}

TEST_CASE("JSON log lines parse and hold no password or token", "[e2e][ops]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_LOG_FORMAT", "json"}});
  const auto port = server.port();
  http(port, "GET", "/signup/nia/nia@ex.com/Secret%20Pass%2F1");
  const auto login = http(port, "GET", "/login/nia@ex.com/Secret%20Pass%2F1");
  REQUIRE(login.status == 200);
  const std::string token = std::string(json::parse(login.body).at("token").as_string());
  http(port, "GET", "/api/v1/me", "",
       {{"Authorization", "Bearer " + token}, {"X-Request-Id", "r-1"}});
  server.stop();
  std::istringstream lines(server.process().output());
  std::string line;
  int requests = 0;
  bool saw_me = false;
  while (std::getline(lines, line)) {
    INFO(line);
    const auto value = json::parse(line);
    CHECK(value.as_object().contains("level"));
    CHECK_THAT(line, !Catch::Contains("Secret"));
    CHECK_THAT(line, !Catch::Contains(token));
    CHECK_THAT(line, !Catch::Contains("nia@ex.com"));
    CHECK_THAT(line, !Catch::Contains("pbkdf2"));
    if (value.at("msg") == "request" && value.at("route") != "readyz") {
      ++requests;
      if (value.at("route") == "me") {
        saw_me = true;
        CHECK(value.at("request_id") == "r-1");
        CHECK(value.at("status") == 200);
        CHECK(value.at("method") == "GET");
      }
    }
  }
  CHECK(requests == 3);
  CHECK(saw_me);
}

TEST_CASE("with a certificate authd serves HTTPS only, and cookies are Secure", "[e2e][ops][tls]") {
  const TempDir temp_dir("authd-test-");
  const std::string& dir = temp_dir.path();
  make_certificate(dir);
  AuthdServer server(fresh_database_url(),
                     {{"AUTHD_TLS_CERT", dir + "/cert.pem"}, {"AUTHD_TLS_KEY", dir + "/key.pem"}});
  const std::string base = "https://127.0.0.1:" + std::to_string(server.port());
  const auto health =
      run("/usr/bin/curl", {"-sS", "--cacert", dir + "/cert.pem", base + "/healthz"});
  CHECK(health.code == 0);
  CHECK(health.output == "ok");
  run("/usr/bin/curl",
      {"-sS", "--cacert", dir + "/cert.pem", base + "/signup/ozzy/oz@ex.com/wizard%20pass"});
  const auto login =
      run("/usr/bin/curl", {"-sS", "-D", "-", "-o", "/dev/null", "--cacert", dir + "/cert.pem",
                            base + "/login/oz@ex.com/wizard%20pass"});
  CHECK_THAT(login.output, Catch::Contains("Secure"));
  const auto tls12 = run("/usr/bin/curl", {"-sS", "--tls-max", "1.2", "--cacert", dir + "/cert.pem",
                                           base + "/healthz"});
  CHECK(tls12.output == "ok");
  // Plain HTTP on the TLS port gets no HTTP answer.
  const auto plain =
      run("/usr/bin/curl",
          {"-sS", "-m", "5", "http://127.0.0.1:" + std::to_string(server.port()) + "/healthz"});
  CHECK(plain.code != 0);
  CHECK(server.stop() == 0);
}

TEST_CASE("a bad certificate or key stops start-up with exit 2", "[e2e][ops][tls]") {
  const TempDir temp_dir("authd-test-");
  const std::string& dir = temp_dir.path();
  make_certificate(dir);
  write_file(dir + "/junk.pem", "not a certificate\n");
  auto env = base_env(fresh_database_url());
  env["AUTHD_LISTEN"] = "127.0.0.1:" + std::to_string(free_port());
  env["AUTHD_TLS_CERT"] = dir + "/junk.pem";
  env["AUTHD_TLS_KEY"] = dir + "/key.pem";
  const auto junk = run(AUTHD_BINARY, {"serve"}, env);
  CHECK(junk.code == 2);
  CHECK_THAT(junk.output, Catch::Contains("AUTHD_TLS_CERT"));
  env["AUTHD_TLS_CERT"] = dir + "/cert.pem";
  env["AUTHD_TLS_KEY"] = dir + "/missing.pem";
  CHECK(run(AUTHD_BINARY, {"serve"}, env).code == 2);
  env.erase("AUTHD_TLS_KEY");
  CHECK(run(AUTHD_BINARY, {"serve"}, env).code == 2);
}
