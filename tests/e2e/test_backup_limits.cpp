#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <filesystem>
#include <memory>

#include <boost/json/parse.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace authd::test;
namespace json = boost::json;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
constexpr const char* kAdminToken = "test-admin-token-0123456789abcdef0123456789";
const Headers kAdmin = {{"Authorization", std::string("Bearer ") + kAdminToken}};

unsigned mode_of(const std::string& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::size_t count(const std::string& url, const std::string& query) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec(query)[0][0].as<std::size_t>();
}

}  // namespace

TEST_CASE(
    "after a backup only the newest AUTHD_BACKUP_KEEP remain, file and row, each 0600 in a "
    "0700 directory",
    "[e2e][backup][backup_limits]") {
  const TempDir temp("authd-test-keep-");
  const std::string dir = temp.path() + "/made/by/authd";
  const auto url = fresh_database_url();
  AuthdServer server(
      url,
      {{"AUTHD_ADMIN_TOKEN", kAdminToken}, {"AUTHD_BACKUP_DIR", dir}, {"AUTHD_BACKUP_KEEP", "2"}});
  std::vector<json::value> made;
  for (int i = 0; i < 4; ++i) {
    const auto response = http(server.port(), "POST", "/api/v1/admin/backups", "", kAdmin);
    REQUIRE(response.status == 201);
    made.push_back(json::parse(response.body));
  }
  CHECK(mode_of(dir) == 0700);
  std::vector<std::string> expected = {std::string(made[2].at("file").as_string()),
                                       std::string(made[3].at("file").as_string())};
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files.push_back(entry.path().filename().string());
    CHECK(mode_of(entry.path().string()) == 0600);
  }
  std::sort(files.begin(), files.end());
  CHECK(files == expected);

  const auto list =
      json::parse(http(server.port(), "GET", "/api/v1/admin/backups", "", kAdmin).body);
  const auto& rows = list.at("backups").as_array();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].at("id") == made[3].at("id"));
  CHECK(rows[1].at("id") == made[2].at("id"));
  CHECK(count(url, "SELECT count(*) FROM backups") == 2);
  const auto oldest =
      http(server.port(), "GET",
           "/api/v1/admin/backups/" + std::to_string(made[0].at("id").as_int64()), "", kAdmin);
  CHECK(oldest.status == 404);
}

TEST_CASE(
    "a backup past AUTHD_BACKUP_TIMEOUT is cancelled, leaves nothing, and the next one "
    "starts at once",
    "[e2e][backup][backup_limits]") {
  const TempDir dir("authd-test-timeout-");
  const auto url = fresh_database_url();
  AuthdServer server(url, {{"AUTHD_ADMIN_TOKEN", kAdminToken},
                           {"AUTHD_BACKUP_DIR", dir.path()},
                           {"AUTHD_BACKUP_TIMEOUT", "1s"}});
  pqxx::connection locker(url);
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");  // the COPY waits for it
  const auto started = std::chrono::steady_clock::now();
  const auto stuck = http(server.port(), "POST", "/api/v1/admin/backups", "", kAdmin);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(stuck.status == 503);
  CHECK(stuck.header("retry-after"));
  CHECK(took >= 0.9);
  CHECK(took < 8);
  CHECK(dir.entries().empty());
  CHECK(count(url, "SELECT count(*) FROM backups") == 0);
  // The COPY was cancelled in PostgreSQL too, not left waiting for the lock. The cancel request
  // travels on a connection of its own, so the backend may take a moment to notice it.
  const auto waiting = [&] {
    return count(url,
                 "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                 "wait_event_type = 'Lock'");
  };
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (waiting() != 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(waiting() == 0);
  // Neither the in-progress flag nor the advisory lock is left behind.
  const auto while_locked = http(server.port(), "POST", "/api/v1/admin/backups", "", kAdmin);
  CHECK(while_locked.status == 503);
  lock->commit();
  lock.reset();

  const auto next = http(server.port(), "POST", "/api/v1/admin/backups", "", kAdmin);
  CHECK(next.status == 201);
  CHECK(dir.entries().size() == 1);
  CHECK(count(url, "SELECT count(*) FROM backups") == 1);
}
