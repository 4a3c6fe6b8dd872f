#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include <boost/json/parse.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"

using namespace authd::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string signup_body(const std::string& name) {
  return R"({"username":")" + name + R"(","email":")" + name +
         R"(@ex.com","password":"correct horse"})";
}

std::string login_body(const std::string& name) {
  return R"({"username":")" + name + R"(","password":"correct horse"})";
}

std::string code_of(const HttpResponse& response) {
  try {
    return std::string(json::parse(response.body).at("code").as_string());
  } catch (const std::exception&) {
    return "<" + response.body + ">";
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE(
    "a statement blocked by a lock answers 503 at AUTHD_DB_TIMEOUT, and the next one works "
    "once the lock is gone",
    "[e2e][db][db_faults]") {
  const auto url = fresh_database_url();
  // One event loop, so the statements below run on the connections the first sign-up opened.
  AuthdServer server(url, {{"AUTHD_DB_TIMEOUT", "1s"}, {"AUTHD_IO_THREADS", "1"}});
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("early")).status == 201);

  pqxx::connection locker(url);
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/api/v1/signup", signup_body("blocked")}, {"/api/v1/login", login_body("early")}}) {
    INFO(path);
    const auto started = std::chrono::steady_clock::now();
    const auto response = http(port, "POST", path, body);
    const double took = seconds_since(started);
    CHECK(response.status == 503);
    CHECK(code_of(response) == "database_unavailable");
    CHECK(response.header("retry-after"));
    CHECK(took < 6);  // about AUTHD_DB_TIMEOUT (plus the cancel's grace), not hanging
  }
  lock->commit();
  lock.reset();

  CHECK(http(port, "POST", "/api/v1/signup", signup_body("blocked")).status == 201);
  CHECK(http(port, "POST", "/api/v1/login", login_body("early")).status == 200);
  CHECK(http(port, "GET", "/readyz").status == 200);
  CHECK(server.stop() == 0);
}

TEST_CASE("a sign-up whose backend is killed mid-insert answers 503, never 409 or 500, then 201",
          "[e2e][db][db_faults]") {
  const auto url = fresh_database_url();
  // One event loop, whose connections the first sign-up opens: the backend cut off below is the
  // insert's, not one still being opened (preparing the insert waits for the lock too).
  AuthdServer server(url, {{"AUTHD_IO_THREADS", "1"}});
  const auto port = server.port();
  REQUIRE(http(port, "POST", "/api/v1/signup", signup_body("early")).status == 201);

  // SHARE mode lets the confirming lookup read but makes the insert wait, so it can be cut off
  // before it commits.
  pqxx::connection locker(url);
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE users IN SHARE MODE");
  auto answer = std::async(std::launch::async, [port] {
    return http(port, "POST", "/api/v1/signup", signup_body("cut"));
  });
  bool killed = false;
  for (int i = 0; i < 250 && !killed; ++i) {
    std::this_thread::sleep_for(20ms);
    pqxx::connection admin(url);
    pqxx::nontransaction tx(admin);
    killed = !tx.exec(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND wait_event_type = 'Lock' AND query LIKE "
                    "'INSERT INTO users%'")
                  .empty();
  }
  REQUIRE(killed);
  // Freed soon after: an insert tried again on another connection would now go through.
  std::this_thread::sleep_for(200ms);
  lock->commit();
  lock.reset();
  const auto response = answer.get();
  CHECK(response.status == 503);
  CHECK(code_of(response) == "database_unavailable");
  CHECK(response.header("retry-after"));

  CHECK(http(port, "POST", "/api/v1/signup", signup_body("cut")).status == 201);
  const auto login = http(port, "POST", "/api/v1/login", login_body("cut"));
  INFO(login.body);
  CHECK(login.status == 200);
}
