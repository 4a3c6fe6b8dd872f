#include <catch2/catch.hpp>

#include <algorithm>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include <openssl/evp.h>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "auth/password.hpp"
#include "backup/backups.hpp"
#include "backup/csv.hpp"
#include "backup/restore.hpp"
#include "db/pool.hpp"
#include "db/statements.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/temp_dir.hpp"

using namespace authd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kIterations = 1000;
// What restore reads (the original six columns), and what a backup writes (the second factor's two
// after them).
const std::string kHeaderLine = "id,username,email,password_hash,role,created_at";
const std::string kDumpHeaderLine = kHeaderLine + ",totp_secret,recovery_codes";

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_whole(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string sha256_hex(const std::string& data) {
  unsigned char sum[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), sum, &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kDigits[sum[i] >> 4];
    out += kDigits[sum[i] & 0xf];
  }
  return out;
}

// Every record of a CSV text, the header included, fed to the reader in small pieces so records
// span chunk boundaries.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, std::size_t piece = 7) {
  backup::CsvReader reader;
  std::vector<std::vector<std::string>> records;
  const auto drain = [&] {
    while (auto record = reader.next_record()) records.push_back(std::move(*record));
  };
  for (std::size_t at = 0; at < text.size(); at += piece) {
    reader.feed(std::string_view(text).substr(at, piece));
    drain();
  }
  reader.finish();
  drain();
  // Rows come in whatever order PostgreSQL reads them (a restore keeps the ids): by id here.
  if (records.size() > 1) {
    std::sort(records.begin() + 1, records.end(), [](const auto& a, const auto& b) {
      return a[0].size() != b[0].size() ? a[0].size() < b[0].size() : a[0] < b[0];
    });
  }
  return records;
}

struct User {
  std::int64_t id;
  std::string username;
  std::string email;
  std::string password_hash;
  std::string role;
  std::string created_at;
};

void insert_user(pqxx::connection& c, const User& u) {
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO users (id, username, email, password_hash, role, created_at) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      u.id, u.username, u.email, u.password_hash, u.role, u.created_at);
  tx.commit();
}

// Adds count users with ids first.., named userN, all with the same hash.
void insert_many(pqxx::connection& c, int first, int count, const std::string& hash,
                 int hash_padding = 0) {
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO users (id, username, email, password_hash) "
      "SELECT g, 'user' || g, 'user' || g || '@example.com', $3 || repeat('x', $4) "
      "FROM generate_series($1::bigint, $1::bigint + $2 - 1) AS g",
      first, count, hash, hash_padding);
  tx.commit();
}

std::int64_t count_users(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  return tx.exec("SELECT count(*) FROM users")[0][0].as<std::int64_t>();
}

// The whole users table as one text, with exact times: equal texts mean equal tables.
std::string users_table(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  return tx
      .exec(
          "SELECT coalesce(string_agg(concat_ws('|', id, username, email, password_hash, role, "
          "extract(epoch FROM created_at)), E'\\n' ORDER BY id), '') FROM users")[0][0]
      .as<std::string>();
}

// The backend running the backup's COPY in this database, or 0.
int copy_backend(pqxx::connection& c, bool waiting_for_lock = false) {
  pqxx::nontransaction tx(c);
  const auto result = tx.exec_params(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1 "
      "AND pid <> pg_backend_pid() AND ($2 = false OR wait_event_type = 'Lock')",
      std::string(db::sql::kDumpUsers.text), waiting_for_lock);
  return result.empty() ? 0 : result[0][0].as<int>();
}

// Waits until the backup's COPY waits for a lock the test holds; false after 10 s.
bool wait_for_blocked_copy(pqxx::connection& c) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (copy_backend(c, true) != 0) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// Advisory locks held in this database by any session.
std::int64_t advisory_locks(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  return tx
      .exec(
          "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
          "WHERE l.locktype = 'advisory' AND d.datname = current_database()")[0][0]
      .as<std::int64_t>();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("a dump writes a whole file that matches its metadata", "[pg][backup]") {
  const auto url = test::fresh_database_url();
  db::ConnectionPool pool({url, 1});
  auto lease = pool.acquire();
  auto& c = lease.connection();
  const std::string hash = auth::hash_password("correct horse battery", kIterations);
  insert_many(c, 1, 250, hash);
  insert_user(c, {900, "Root.Admin", "root@example.com", hash, "admin", "2020-01-02 03:04:05+00"});

  test::TempDir dir;
  backup::BackupService service(url, dir.path());
  std::vector<backup::Progress> reports;
  const auto info = service.create(c, [&](const backup::Progress& p) { reports.push_back(p); });

  // Only the finished file is left, under the name the metadata gives.
  REQUIRE(dir.entries() == std::vector<std::string>{info.file});
  CHECK(service.path_of(info) == dir.file(info.file));
  const std::string content = read_whole(service.path_of(info));

  CHECK(info.sha256.size() == 64);
  CHECK(sha256_hex(content) == info.sha256);
  CHECK(static_cast<std::int64_t>(content.size()) == info.bytes);
  CHECK(static_cast<std::int64_t>(fs::file_size(service.path_of(info))) == info.bytes);
  CHECK(info.rows == 251);
  CHECK(info.rows == count_users(c));

  REQUIRE(content.find('\n') != std::string::npos);
  CHECK(content.substr(0, content.find('\n')) == kDumpHeaderLine);
  CHECK(content.back() == '\n');
  const auto records = parse_csv(content);
  REQUIRE(records.size() == 252);
  CHECK(static_cast<std::int64_t>(records.size()) - 1 == info.rows);
  CHECK(records[1][0] == "1");
  CHECK(records[1][1] == "user1");
  CHECK(records[1][3] == hash);
  CHECK(records.back()[0] == "900");
  CHECK(records.back()[4] == "admin");

  REQUIRE_FALSE(reports.empty());
  CHECK(reports.back().done);
  CHECK(reports.back().rows == info.rows);
  CHECK(reports.back().bytes == info.bytes);

  const auto latest = backup::BackupService::latest(c);
  REQUIRE(latest);
  CHECK(latest->id == info.id);
  CHECK(latest->file == info.file);
  CHECK(latest->rows == info.rows);
  CHECK(latest->bytes == info.bytes);
  CHECK(latest->sha256 == info.sha256);
  CHECK(latest->created_at == info.created_at);
  CHECK(backup::BackupService::list(c).size() == 1);
  const auto found = backup::BackupService::find(c, info.id);
  REQUIRE(found);
  CHECK(found->file == info.file);
  CHECK(service.made() == 1);
  CHECK(service.failed() == 0);
  // The lock that keeps instances apart is let go.
  CHECK(advisory_locks(c) == 0);
}

TEST_CASE("a dump quotes commas, quotes and newlines so they read back exactly", "[pg][backup]") {
  const auto url = test::fresh_database_url();
  pqxx::connection c(url);
  const std::string hash = auth::hash_password("correct horse battery", kIterations);
  // Validation would refuse these emails; the dump must carry them unharmed all the same.
  const std::vector<User> users = {
      {1, "comma", "a,b@example.com", hash, "user", "2021-05-06 07:08:09+00"},
      {2, "quote", "say\"hi\"@example.com", hash, "admin", "2021-05-06 07:08:09+00"},
      {3, "newline", "line\nbreak@example.com", hash, "user", "2021-05-06 07:08:09+00"},
      {4, "crlf", "all\r\n\"of\",\nthem\"@example.com", hash, "user", "2021-05-06 07:08:09+00"},
      {5, "spaces", " lead.trail@example.com ", hash, "user", "2021-05-06 07:08:09+00"},
      {6, "empty", "empty@example.com", "", "user", "2021-05-06 07:08:09+00"},
  };
  for (const auto& u : users) insert_user(c, u);

  test::TempDir dir;
  backup::BackupService service(url, dir.path());
  const auto info = service.create(c);
  const std::string content = read_whole(service.path_of(info));
  CHECK(info.rows == 6);

  for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, content.size()}) {
    INFO("fed in pieces of " << piece << " bytes");
    const auto records = parse_csv(content, piece);
    REQUIRE(records.size() == users.size() + 1);
    CHECK(records[0] == std::vector<std::string>{"id", "username", "email", "password_hash", "role",
                                                 "created_at", "totp_secret", "recovery_codes"});
    for (std::size_t i = 0; i < users.size(); ++i) {
      const auto& record = records[i + 1];
      REQUIRE(record.size() == 8);
      CHECK(record[6].empty());  // no second factor
      CHECK(record[0] == std::to_string(users[i].id));
      CHECK(record[1] == users[i].username);
      CHECK(record[2] == users[i].email);
      CHECK(record[3] == users[i].password_hash);
      CHECK(record[4] == users[i].role);
    }
  }
}

TEST_CASE("a dump whose COPY is killed midway leaves no file and no metadata", "[pg][backup]") {
  const std::string hash = auth::hash_password("correct horse battery", kIterations);
  // Wide rows keep the COPY streaming long after the first megabyte reaches the file; should the
  // dump still win the race, the next attempt streams more.
  bool interrupted = false;
  for (int attempt = 0; attempt < 3 && !interrupted; ++attempt) {
    const int padding = 4000 << attempt;
    INFO("attempt " << attempt << ", rows of about " << padding << " bytes");
    const auto url = test::fresh_database_url();
    db::ConnectionPool pool({url, 1});
    auto lease = pool.acquire();
    auto& c = lease.connection();
    insert_many(c, 1, 20000, hash, padding);

    test::TempDir dir;
    backup::BackupService service(url, dir.path());
    std::atomic<bool> finished{false};
    std::atomic<bool> terminated{false};
    std::atomic<bool> saw_partial_file{false};
    std::thread killer([&] {
      pqxx::connection admin(url);
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      int pid = 0;
      while (!finished && std::chrono::steady_clock::now() < deadline) {
        if (pid == 0) pid = copy_backend(admin);
        if (pid != 0) {
          // The file being written already holds data: the COPY is midway.
          for (const auto& name : dir.entries()) {
            std::error_code ec;
            if (ends_with(name, ".tmp") && fs::file_size(dir.file(name), ec) > 0 && !ec) {
              saw_partial_file = true;
            }
          }
          if (saw_partial_file) {
            pqxx::nontransaction tx(admin);
            terminated = tx.exec_params("SELECT pg_terminate_backend($1)", pid)[0][0].as<bool>();
            return;
          }
        }
        std::this_thread::sleep_for(200us);
      }
    });
    std::string error;
    try {
      service.create(c);
    } catch (const std::exception& e) {
      error = e.what();
    }
    finished = true;
    killer.join();
    if (error.empty()) {
      WARN("the dump finished before the kill on attempt " << attempt);
      continue;
    }
    interrupted = true;
    INFO("create threw: " << error);
    CHECK(saw_partial_file);
    CHECK(terminated);
    CHECK(error.find("COPY") != std::string::npos);
    CHECK(dir.entries().empty());
    CHECK(backup::BackupService::list(c).empty());
    CHECK_FALSE(backup::BackupService::latest(c));
    CHECK(service.failed() == 1);
    CHECK(service.made() == 0);
    CHECK(advisory_locks(c) == 0);

    // Nothing stays locked: the next dump goes through.
    const auto info = service.create(c);
    CHECK(info.rows == 20000);
    CHECK(dir.entries() == std::vector<std::string>{info.file});
    CHECK(backup::BackupService::list(c).size() == 1);
  }
  CHECK(interrupted);
}

TEST_CASE("a second dump on the same service while one runs gets BackupInProgress",
          "[pg][backup]") {
  const auto url = test::fresh_database_url();
  db::ConnectionPool pool({url, 3});
  auto first_lease = pool.acquire();
  auto second_lease = pool.acquire();
  auto admin_lease = pool.acquire();
  auto& first_metadata = first_lease.connection();
  auto& second_metadata = second_lease.connection();
  auto& admin = admin_lease.connection();
  insert_many(first_metadata, 1, 100, auth::hash_password("correct horse battery", kIterations));

  test::TempDir dir;
  backup::BackupService service(url, dir.path());
  // Declared before the lock holder: should a check fail, the lock is let go before the first
  // dump is waited for.
  std::future<backup::BackupInfo> first;
  pqxx::connection locker(url);
  pqxx::work hold(locker);
  // The first dump's COPY waits for this lock, so it is certainly running when the second starts.
  hold.exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
  first = std::async(std::launch::async, [&] { return service.create(first_metadata); });
  REQUIRE(wait_for_blocked_copy(admin));

  auto second = std::async(std::launch::async, [&] { return service.create(second_metadata); });
  CHECK_THROWS_AS(second.get(), backup::BackupInProgress);

  hold.abort();
  const auto info = first.get();
  CHECK(info.rows == 100);
  CHECK(dir.entries() == std::vector<std::string>{info.file});
  CHECK(backup::BackupService::list(admin).size() == 1);

  // Once the first is done, the second connection may dump.
  const auto again = service.create(second_metadata);
  CHECK(again.id != info.id);
  CHECK(backup::BackupService::list(admin).size() == 2);
}

TEST_CASE("a second instance dumping while another does gets BackupInProgress", "[pg][backup]") {
  const auto url = test::fresh_database_url();
  db::ConnectionPool pool({url, 3});
  auto first_lease = pool.acquire();
  auto second_lease = pool.acquire();
  auto admin_lease = pool.acquire();
  auto& first_metadata = first_lease.connection();
  auto& second_metadata = second_lease.connection();
  auto& admin = admin_lease.connection();
  insert_many(first_metadata, 1, 100, auth::hash_password("correct horse battery", kIterations));

  test::TempDir first_dir;
  test::TempDir second_dir;
  backup::BackupService first_instance(url, first_dir.path());
  backup::BackupService second_instance(url, second_dir.path());
  std::future<backup::BackupInfo> first;
  pqxx::connection locker(url);
  pqxx::work hold(locker);
  hold.exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
  first = std::async(std::launch::async, [&] { return first_instance.create(first_metadata); });
  REQUIRE(wait_for_blocked_copy(admin));

  // Only the advisory lock in the shared database can tell the second instance.
  CHECK_THROWS_AS(second_instance.create(second_metadata), backup::BackupInProgress);
  CHECK(second_dir.entries().empty());

  hold.abort();
  const auto info = first.get();
  CHECK(info.rows == 100);
  CHECK(first_dir.entries() == std::vector<std::string>{info.file});
  CHECK(backup::BackupService::list(admin).size() == 1);

  // The lock went with the first dump.
  const auto second = second_instance.create(second_metadata);
  CHECK(second_dir.entries() == std::vector<std::string>{second.file});
  CHECK(backup::BackupService::list(admin).size() == 2);
}

TEST_CASE("a restore into a fresh database keeps ids, roles, hashes and creation times",
          "[pg][backup]") {
  const auto source_url = test::fresh_database_url();
  pqxx::connection source(source_url);
  const std::vector<User> users = {
      {3, "alice", "alice@example.com", auth::hash_password("alice password", kIterations), "user",
       "2001-02-03 04:05:06.789012+00"},
      {7, "Bob.Admin", "Bob@Example.COM", auth::hash_password("bob password", kIterations), "admin",
       "1999-12-31 23:59:59.5-08"},
      {1000, "carol_c", "carol@sub.example.org", auth::hash_password("carol password", 2000),
       "user", "2024-02-29 12:00:00+05:30"},
      {1001, "dave-d", "dave@example.net", auth::hash_password("dave password", kIterations),
       "admin", "2030-06-15 00:00:00.000001+00"},
      {50000, "erin", "erin@example.com", auth::hash_password("erin password", kIterations), "user",
       "1970-01-01 00:00:00+00"},
  };
  for (const auto& u : users) insert_user(source, u);

  test::TempDir dir;
  backup::BackupService service(source_url, dir.path());
  const auto info = service.create(source);

  pqxx::connection target(test::fresh_database_url());
  std::vector<backup::Progress> reports;
  const auto result = backup::restore(target, service.path_of(info),
                                      [&](const backup::Progress& p) { reports.push_back(p); });
  CHECK(result.rows == 5);
  REQUIRE_FALSE(reports.empty());
  CHECK(reports.back().done);
  CHECK(reports.back().rows == 5);

  CHECK(users_table(target) == users_table(source));
  {
    pqxx::nontransaction tx(target);
    const auto rows = tx.exec(
        "SELECT id, username, email, password_hash, role, "
        "created_at = $$1999-12-31 23:59:59.5-08$$::timestamptz FROM users ORDER BY id");
    REQUIRE(rows.size() == users.size());
    for (std::size_t i = 0; i < users.size(); ++i) {
      CHECK(rows[i][0].as<std::int64_t>() == users[i].id);
      CHECK(rows[i][1].as<std::string>() == users[i].username);
      CHECK(rows[i][2].as<std::string>() == users[i].email);
      CHECK(rows[i][3].as<std::string>() == users[i].password_hash);
      CHECK(rows[i][4].as<std::string>() == users[i].role);
    }
    CHECK(rows[1][5].as<bool>());
  }
  // A restored hash still checks its password.
  const auto parsed = auth::parse_phc(users[1].password_hash);
  REQUIRE(parsed);
  CHECK(auth::verify_password("bob password", *parsed));

  // New users are numbered past the restored ones.
  pqxx::work tx(target);
  const auto id = tx.exec(
                        "INSERT INTO users (username, email, password_hash) "
                        "VALUES ('frank', 'frank@example.com', 'x') RETURNING id")[0][0]
                      .as<std::int64_t>();
  tx.commit();
  CHECK(id > 50000);
}

TEST_CASE("a restore that clashes changes nothing and names the first clashing row",
          "[pg][backup]") {
  const auto source_url = test::fresh_database_url();
  pqxx::connection source(source_url);
  const std::string hash = auth::hash_password("correct horse battery", kIterations);
  insert_user(source, {1, "alice", "alice@example.com", hash, "user", "2020-01-01 00:00:00+00"});
  insert_user(source, {2, "bob", "Bob@Example.com", hash, "user", "2020-01-02 00:00:00+00"});
  insert_user(source, {3, "carol", "carol@example.com", hash, "admin", "2020-01-03 00:00:00+00"});
  insert_user(source, {4, "dave", "dave@example.com", hash, "user", "2020-01-04 00:00:00+00"});
  test::TempDir dir;
  backup::BackupService service(source_url, dir.path());
  const std::string path = service.path_of(service.create(source));

  pqxx::connection target(test::fresh_database_url());
  SECTION("an email in another case") {
    insert_user(target, {500, "robert", "bOB@example.COM", hash, "user", "2019-01-01 00:00:00+00"});
  }
  SECTION("a username in another case") {
    insert_user(target, {500, "BOB", "robert@example.com", hash, "user", "2019-01-01 00:00:00+00"});
  }
  SECTION("an id") {
    insert_user(target,
                {2, "robert", "robert@example.com", hash, "user", "2019-01-01 00:00:00+00"});
  }
  // A later row clashes too; the message names the first.
  insert_user(target, {501, "Dave", "other@example.com", hash, "user", "2019-01-01 00:00:00+00"});
  const std::string before = users_table(target);

  try {
    backup::restore(target, path);
    FAIL("the restore went through");
  } catch (const backup::RestoreError& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(message.find("id 2") != std::string::npos);
    CHECK(message.find("'bob'") != std::string::npos);
    CHECK(message.find("dave") == std::string::npos);
    CHECK(message.find("nothing restored") != std::string::npos);
  }
  CHECK(count_users(target) == 2);
  CHECK(users_table(target) == before);
}

TEST_CASE("a corrupt or missing backup file is refused with a clear message and changes nothing",
          "[pg][backup]") {
  pqxx::connection target(test::fresh_database_url());
  const std::string hash = auth::hash_password("correct horse battery", kIterations);
  insert_user(target,
              {900, "existing", "existing@example.com", hash, "user", "2019-01-01 00:00:00+00"});
  const std::string before = users_table(target);
  const std::string good_row =
      "1,alice,alice@example.com," + hash + ",user,2020-01-01 00:00:00+00\n";

  test::TempDir dir;
  const std::string path = dir.file("users.csv");
  std::string content;
  std::vector<std::string> expected;
  // The header, a good row, then the row under test (line 3).
  const auto with_row = [&](const std::string& row) { return kHeaderLine + "\n" + good_row + row; };

  SECTION("a wrong header") {
    content = "id,name,email,password_hash,role,created_at\n" + good_row;
    expected = {"line 1", "header"};
  }
  SECTION("a bad password hash") {
    content =
        with_row("2,bob,bob@example.com,$pbkdf2-sha256$i=1000$abc,user,2020-01-01 00:00:00+00\n");
    expected = {"line 3", "password_hash"};
  }
  SECTION("a bad email") {
    content = with_row("2,bob,bob.example.com," + hash + ",user,2020-01-01 00:00:00+00\n");
    expected = {"line 3", "email"};
  }
  SECTION("a row with too few fields") {
    content = with_row("2,bob,bob@example.com," + hash + ",user\n");
    expected = {"line 3", "expected 6 fields, found 5"};
  }
  SECTION("a row with too many fields") {
    content = with_row("2,bob,bob@example.com," + hash + ",user,2020-01-01 00:00:00+00,extra\n");
    expected = {"line 3", "expected 6 fields, found 7"};
  }
  SECTION("an unterminated quoted field") {
    content = with_row("2,bob,\"bob@example.com," + hash + ",user,2020-01-01 00:00:00+00\n");
    expected = {"line 3", "quoted field"};
  }
  SECTION("a bad role") {
    content = with_row("2,bob,bob@example.com," + hash + ",root,2020-01-01 00:00:00+00\n");
    expected = {"line 3", "role"};
  }
  SECTION("an id that is not a number") {
    content = with_row("x2,bob,bob@example.com," + hash + ",user,2020-01-01 00:00:00+00\n");
    expected = {"line 3", "id"};
  }
  SECTION("a creation time PostgreSQL cannot read") {
    content = with_row("2,bob,bob@example.com," + hash + ",user,2020-13-45 99:00:00+00\n");
    expected = {"created_at", "timestamp"};
  }
  SECTION("two rows with the same email") {
    content = with_row("2,bob,ALICE@example.com," + hash + ",user,2020-01-01 00:00:00+00\n");
    expected = {"same id, username or email"};
  }
  SECTION("an empty file") {
    expected = {"empty"};
  }
  SECTION("a missing file") {
    expected = {"missing.csv", "cannot be read"};
  }
  const std::string restored = expected.front() == "missing.csv" ? dir.file("missing.csv") : path;
  if (restored == path) write_whole(path, content);

  try {
    backup::restore(target, restored);
    FAIL("the restore went through");
  } catch (const backup::RestoreError& e) {
    const std::string message = e.what();
    INFO(message);
    for (const auto& part : expected) CHECK(message.find(part) != std::string::npos);
  }
  CHECK(count_users(target) == 1);
  CHECK(users_table(target) == before);
}
