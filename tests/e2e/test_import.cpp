#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace authd::test;
namespace json = boost::json;

namespace {

// Hashes made by the reference implementations (tests/scripts/foreign_hash.py), one per
// {format, password}.
std::vector<std::string> foreign_hashes(
    const std::vector<std::pair<std::string, std::string>>& wanted) {
  std::vector<std::string> args{std::string(AUTHD_SOURCE_DIR) + "/tests/scripts/foreign_hash.py"};
  for (const auto& [format, password] : wanted) {
    args.push_back(format);
    args.push_back(password);
  }
  const auto made = run("/usr/bin/python3", args);
  INFO(made.output);
  REQUIRE(made.code == 0);
  std::vector<std::string> hashes;
  std::istringstream lines(made.output);
  for (std::string line; std::getline(lines, line);) hashes.push_back(line);
  REQUIRE(hashes.size() == wanted.size());
  return hashes;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

RunResult import_file(const std::string& url, const std::string& file,
                      std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"user", "import", file};
  args.insert(args.end(), extra.begin(), extra.end());
  return run(AUTHD_BINARY, args, base_env(url));
}

std::string stored_hash(const std::string& url, const std::string& username) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  const pqxx::result rows =
      tx.exec_params("SELECT password_hash FROM users WHERE username = $1", username);
  return rows.empty() ? std::string() : rows[0][0].as<std::string>();
}

std::int64_t user_count(const std::string& url) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec("SELECT count(*) FROM users")[0][0].as<std::int64_t>();
}

HttpResponse login(unsigned short port, const std::string& field, const std::string& identifier,
                   const std::string& password) {
  return http(port, "POST", "/api/v1/login",
              json::serialize(json::object{{field, identifier}, {"password", password}}));
}

void create_user(const std::string& url, const std::string& username) {
  const auto created =
      run(AUTHD_BINARY, {"user", "create", "--username", username, "--email", username + "@ex.com"},
          base_env(url), "a password of " + username + "\n");
  INFO(created.output);
  REQUIRE(created.code == 0);
}

// Each format with a low cost, so the tests run fast under the sanitizers.
const std::vector<std::string> kFormats = {
    "werkzeug:pbkdf2:sha256:1000",
    "werkzeug:pbkdf2:sha512:1000",
    "werkzeug:pbkdf2:sha1:1000",
    "scrypt:1024:8:1",
    "django:sha256:1000",
    "django:sha1:1000",
    "authd:1000",
    "bcrypt:2a:4",
    "bcrypt:2b:4",
    "bcrypt:2y:4",
    "argon2:id:2:10:2",
    "argon2:i:1:8:1",
    "argon2:d:1:8:1",
};

std::string password_of(std::size_t i) {
  // Every other one beyond ASCII: hashes are of the UTF-8 bytes.
  return i % 2 == 0 ? "correct horse " + std::to_string(i)
                    : "pässwörd ünïcode 密码 " + std::to_string(i);
}

}  // namespace

TEST_CASE("the original service's dump imports as it is and its users log in", "[e2e][import]") {
  // The original service's table and its hashes (generate_password_hash with pbkdf2:sha256, as
  // its sign-up made them), dumped as its /dump did: COPY users TO STDOUT WITH CSV HEADER.
  const auto original = fresh_database_url(false);
  const std::vector<std::string> names = {"alice", "bob", "carol"};
  const auto hashes = foreign_hashes({{"werkzeug:pbkdf2:sha256:1000", "alice's password"},
                                      {"werkzeug:pbkdf2:sha256:1000", "bob's password"},
                                      {"werkzeug:pbkdf2:sha256:1000", "carol's password"}});
  const std::vector<int> old_ids = {101, 205, 309};
  {
    pqxx::connection c(original);
    pqxx::work tx(c);
    tx.exec(
        "CREATE TABLE users (id SERIAL PRIMARY KEY, username VARCHAR(80) UNIQUE NOT NULL, "
        "email VARCHAR(254) UNIQUE NOT NULL, password VARCHAR(255) NOT NULL, "
        "created_at TIMESTAMP NOT NULL DEFAULT now())");
    for (std::size_t i = 0; i < names.size(); ++i) {
      tx.exec_params(
          "INSERT INTO users (id, username, email, password, created_at) VALUES ($1, $2, $3, $4, "
          "$5)",
          old_ids[i], names[i], names[i] + "@example.com", hashes[i],
          "2024-01-0" + std::to_string(i + 1) + " 03:04:05.678901");
    }
    tx.commit();
  }
  const TempDir dir("authd-test-import-");
  const std::string file = dir.file("backup.csv");
  const auto dumped = run("/usr/bin/psql", {original, "-v", "ON_ERROR_STOP=1", "-c",
                                            "\\copy users to '" + file + "' with csv header"});
  INFO(dumped.output);
  REQUIRE(dumped.code == 0);
  {
    std::ifstream in(file);
    std::string header;
    std::getline(in, header);
    REQUIRE(header == "id,username,email,password,created_at");
  }

  const auto target = fresh_database_url();
  create_user(target, "zed");  // already there: the imported users get ids after it
  const auto imported = import_file(target, file);
  INFO(imported.output);
  REQUIRE(imported.code == 0);
  const auto summary = json::parse(imported.output.substr(imported.output.find('{')));
  CHECK(summary.at("imported_rows") == 3);
  CHECK(summary.at("seconds").is_double());
  CHECK(stored_hash(target, "alice") == hashes[0]);
  {
    // The import is in the audit trail, written with it; its hashes are not.
    pqxx::connection c(target);
    pqxx::nontransaction tx(c);
    const auto audit = tx.exec(
        "SELECT actor, detail->>'rows', detail::text FROM audit_events WHERE type = "
        "'users_imported'");
    REQUIRE(audit.size() == 1);
    CHECK(audit[0][0].as<std::string>() == "cli");
    CHECK(audit[0][1].as<std::string>() == "3");
    CHECK(audit[0][2].as<std::string>().find("pbkdf2") == std::string::npos);
  }

  AuthdServer server(target);
  std::set<std::int64_t> ids;
  for (std::size_t i = 0; i < names.size(); ++i) {
    INFO(names[i]);
    CHECK(login(server.port(), "email", names[i] + "@example.com", "wrong password").status == 401);
    CHECK(stored_hash(target, names[i]) == hashes[i]);
    const auto ok =
        login(server.port(), "email", names[i] + "@example.com", names[i] + "'s password");
    REQUIRE(ok.status == 200);
    const auto user = json::parse(ok.body).at("user");
    ids.insert(user.at("id").as_int64());
    CHECK(user.at("created_at").as_string() == "2024-01-0" + std::to_string(i + 1) + "T03:04:05Z");
    CHECK(user.at("role") == "user");
    CHECK_THAT(stored_hash(target, names[i]), Catch::StartsWith("$pbkdf2-sha256$i=1000$"));
    // The upgraded hash keeps working.
    CHECK(login(server.port(), "username", names[i], names[i] + "'s password").status == 200);
  }
  CHECK(ids.size() == 3);
  for (int old_id : old_ids) CHECK(ids.count(old_id) == 0);
  CHECK(*ids.begin() > 1);  // zed is 1
}

TEST_CASE("users of every accepted hash format import, log in and then hold authd's hash",
          "[e2e][import]") {
  std::vector<std::pair<std::string, std::string>> wanted;
  for (std::size_t i = 0; i < kFormats.size(); ++i)
    wanted.emplace_back(kFormats[i], password_of(i));
  const auto hashes = foreign_hashes(wanted);
  std::string csv = "username,email,password_hash\n";
  for (std::size_t i = 0; i < kFormats.size(); ++i) {
    csv += "user" + std::to_string(i) + ",user" + std::to_string(i) + "@example.com,\"" +
           hashes[i] + "\"\n";
  }
  const TempDir dir("authd-test-import-");
  write_file(dir.file("users.csv"), csv);
  const auto target = fresh_database_url();
  const auto imported = import_file(target, dir.file("users.csv"), {"--format", "csv"});
  INFO(imported.output);
  REQUIRE(imported.code == 0);
  CHECK_THAT(imported.output, Catch::Contains("\"imported_rows\":13"));

  AuthdServer server(target);
  for (std::size_t i = 0; i < kFormats.size(); ++i) {
    const std::string username = "user" + std::to_string(i);
    INFO(kFormats[i]);
    const auto wrong = login(server.port(), "username", username, password_of(i) + "!");
    CHECK(wrong.status == 401);
    CHECK_THAT(wrong.body, Catch::Contains("invalid_credentials"));
    CHECK(stored_hash(target, username) == hashes[i]);
    CHECK(login(server.port(), "username", username, password_of(i)).status == 200);
    CHECK_THAT(stored_hash(target, username), Catch::StartsWith("$pbkdf2-sha256$i=1000$"));
    CHECK(login(server.port(), "email", username + "@example.com", password_of(i)).status == 200);
  }

  // A password change proves the current password against an imported hash too.
  const auto session = login(server.port(), "username", "user8", password_of(8));
  REQUIRE(session.status == 200);
  const std::string token(json::parse(session.body).at("token").as_string());
  {
    pqxx::connection c(target);
    pqxx::nontransaction tx(c);
    tx.exec_params("UPDATE users SET password_hash = $1 WHERE username = 'user8'", hashes[8]);
  }
  const auto changed = http(server.port(), "POST", "/api/v1/password",
                            json::serialize(json::object{{"current_password", password_of(8)},
                                                         {"new_password", "a brand new one"}}),
                            {{"Authorization", "Bearer " + token}});
  CHECK(changed.status == 204);
  CHECK(login(server.port(), "username", "user8", "a brand new one").status == 200);
}

TEST_CASE("JSON lines import with role, created_at and email_verified", "[e2e][import]") {
  const auto hashes = foreign_hashes({{"bcrypt:2b:4", "ann's password"},
                                      {"argon2:id:1:8:1", "ben's password"},
                                      {"werkzeug:pbkdf2:sha256:1000", "cat's password"}});
  std::string lines;
  lines += json::serialize(json::object{{"username", "ann"},
                                        {"email", "ann@example.com"},
                                        {"password_hash", hashes[0]},
                                        {"role", "admin"},
                                        {"email_verified", true},
                                        {"created_at", "2023-05-06T07:08:09+02:00"}}) +
           "\n";
  lines += json::serialize(json::object{{"username", "ben"},
                                        {"email", "ben@example.com"},
                                        {"password", hashes[1]},
                                        {"id", 77},
                                        {"created_at", nullptr}}) +
           "\n\n";
  lines += json::serialize(json::object{
               {"username", "cat"}, {"email", "cat@example.com"}, {"password", hashes[2]}}) +
           "\n";
  const TempDir dir("authd-test-import-");
  write_file(dir.file("users.jsonl"), lines);
  const auto target = fresh_database_url();
  const auto imported = import_file(target, dir.file("users.jsonl"), {"--format", "jsonl"});
  INFO(imported.output);
  REQUIRE(imported.code == 0);
  CHECK_THAT(imported.output, Catch::Contains("\"imported_rows\":3"));

  AuthdServer server(target);
  const auto ann = login(server.port(), "username", "ann", "ann's password");
  REQUIRE(ann.status == 200);
  const auto ann_user = json::parse(ann.body).at("user");
  CHECK(ann_user.at("role") == "admin");
  CHECK(ann_user.at("email_verified") == true);
  CHECK(ann_user.at("created_at") == "2023-05-06T05:08:09Z");
  const auto ben = login(server.port(), "email", "ben@example.com", "ben's password");
  REQUIRE(ben.status == 200);
  CHECK(json::parse(ben.body).at("user").at("role") == "user");
  CHECK(json::parse(ben.body).at("user").at("email_verified") == false);
  CHECK(json::parse(ben.body).at("user").at("id") != 77);
  CHECK(login(server.port(), "username", "cat", "cat's password").status == 200);

  // Lines count from 1, blank ones included.
  write_file(dir.file("bad.jsonl"),
             R"({"username":"dan","email":"dan@example.com","password":")" + hashes[0] +
                 "\"}\n\n{\"username\":\"eve\",\"email\":\"eve@example.com\"}\n");
  const auto refused = import_file(target, dir.file("bad.jsonl"), {"--format", "jsonl"});
  CHECK(refused.code != 0);
  CHECK_THAT(refused.output, Catch::Contains(dir.file("bad.jsonl") + " line 3: password_hash"));
  write_file(dir.file("notjson.jsonl"), "{\"username\":\n");
  const auto broken = import_file(target, dir.file("notjson.jsonl"), {"--format", "jsonl"});
  CHECK(broken.code != 0);
  CHECK_THAT(broken.output, Catch::Contains("line 1: not a JSON object"));
  CHECK(user_count(target) == 3);
}

TEST_CASE("an import with a bad row in the middle loads nothing and names its line",
          "[e2e][import]") {
  const auto hashes = foreign_hashes(
      {{"werkzeug:pbkdf2:sha256:1000", "good password 1"}, {"bcrypt:2b:4", "good password 2"}});
  const std::string good_hash = hashes[0];
  const std::string bcrypt_tail = hashes[1].substr(7);
  const std::string key(64, 'a');
  const std::string argon2_tail =
      "$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+xjee0WFaiJEBtcRij4bL1xsv8";
  // {the fourth line, what the refusal says}; Argon2's parameters hold commas, so they are quoted.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"x,x@example.com," + good_hash + ",user,,", "username"},
      {"dave,not-an-email," + good_hash + ",user,,", "email"},
      {"dave,dave@example.com,md5$abc$0123456789abcdef,user,,", "not a known password hash format"},
      {"dave,dave@example.com,,user,,", "the hash is empty"},
      {"dave,dave@example.com,pbkdf2:sha256:10000001$salt$" + key + ",user,,",
       "iterations exceed 10,000,000"},
      {"dave,dave@example.com,pbkdf2_sha256$10000001$salt$"
       "r7D3MJNv9d92uxJe5RWAsOYbCmlIWkq7qbCiR092rl0=,"
       "user,,",
       "iterations exceed 10,000,000"},
      {"dave,dave@example.com,$pbkdf2-sha256$i=10000001$AAECAwQFBgcICQoLDA0ODw$"
       "AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8,user,,",
       "iterations exceed 10,000,000"},
      {"dave,dave@example.com,scrypt:2097152:8:1$salt$" + std::string(128, 'a') + ",user,,",
       "N exceeds 2^20"},
      {"dave,dave@example.com,scrypt:16384:17:1$salt$" + std::string(128, 'a') + ",user,,",
       "r is not between 1 and 16"},
      {"dave,dave@example.com,$2b$16$" + bcrypt_tail + ",user,,", "cost exceeds 15"},
      {"dave,dave@example.com,\"$argon2id$v=19$m=262145,t=1,p=1" + argon2_tail + "\",user,,",
       "memory exceeds 262144 KiB"},
      {"dave,dave@example.com,\"$argon2id$v=19$m=65536,t=11,p=1" + argon2_tail + "\",user,,",
       "t exceeds 10"},
      {"dave,dave@example.com,\"$argon2id$v=19$m=65536,t=1,p=17" + argon2_tail + "\",user,,",
       "p exceeds 16"},
      {"dave,dave@example.com," + good_hash + ",root,,", "role must be user or admin"},
      {"dave,dave@example.com," + good_hash + ",user,yesterday,", "created_at"},
      {"dave,dave@example.com," + good_hash + ",user,2023-02-29 10:00:00,", "created_at"},
      {"dave,dave@example.com," + good_hash + ",user,,maybe", "email_verified"},
      {"dave,dave@example.com," + good_hash, "expected 6 fields, found 3"},
  };
  const auto target = fresh_database_url();
  const TempDir dir("authd-test-import-");
  const std::string file = dir.file("users.csv");
  for (const auto& [bad, reason] : cases) {
    INFO(bad);
    std::string csv = "username,email,password_hash,role,created_at,email_verified\n";
    csv += "ann,ann@example.com," + good_hash + ",admin,2024-01-01T00:00:00Z,true\n";
    csv += "bob,bob@example.com," + hashes[1] + ",user,2024-01-01 00:00:00.5+01,false\n";
    csv += bad + "\n";
    csv += "eve,eve@example.com," + good_hash + ",,,\n";
    write_file(file, csv);
    const auto refused = import_file(target, file);
    INFO(refused.output);
    CHECK(refused.code == 1);
    CHECK_THAT(refused.output, Catch::Contains(file + " line 4: "));
    CHECK_THAT(refused.output, Catch::Contains(reason));
    CHECK_THAT(refused.output, Catch::Contains("nothing imported"));
    // Neither a hash nor a password in the message.
    CHECK_THAT(refused.output, !Catch::Contains(good_hash));
    CHECK_THAT(refused.output, !Catch::Contains(bcrypt_tail));
    CHECK_THAT(refused.output, !Catch::Contains("$salt$"));
  }
  CHECK(user_count(target) == 0);

  // The same rows without the bad one load.
  std::string csv = "username,email,password_hash,role,created_at,email_verified\n";
  csv += "ann,ann@example.com," + good_hash + ",admin,2024-01-01T00:00:00Z,true\n";
  csv += "eve,eve@example.com," + good_hash + ",,,\n";
  write_file(file, csv);
  CHECK(import_file(target, file).code == 0);
  CHECK(user_count(target) == 2);
}

TEST_CASE("an import refuses duplicates within the file and against the database by their line",
          "[e2e][import]") {
  const auto hashes = foreign_hashes({{"werkzeug:pbkdf2:sha256:1000", "a password"}});
  const std::string& hash = hashes[0];
  const auto target = fresh_database_url();
  create_user(target, "carol");
  const TempDir dir("authd-test-import-");
  const std::string file = dir.file("users.csv");
  const auto row = [&](const std::string& username, const std::string& email) {
    return username + "," + email + "," + hash + "\n";
  };
  const std::string header = "username,email,password\n";
  // {rows after the header, what the refusal says}
  const std::vector<std::pair<std::string, std::string>> cases = {
      {row("ann", "ann@example.com") + row("bob", "bob@example.com") +
           row("ANN", "ann2@example.com"),
       "line 4: the username is also on line 2"},
      {row("ann", "ann@example.com") + row("bob", "bob@example.com") +
           row("zed", "Ann@Example.COM"),
       "line 4: the email is also on line 2"},
      {row("ann", "ann@example.com") + row("Carol", "carol2@example.com"),
       "line 3: an existing user has this username"},
      {row("ann", "ann@example.com") + row("newname", "CAROL@ex.com"),
       "line 3: an existing user has this email"},
      // The first bad row is named, whatever made it bad.
      {row("carol", "c@example.com") + row("ann", "ann@example.com") + row("x", "x@example.com"),
       "line 2: an existing user has this username"},
      {row("x", "x@example.com") + row("ann", "ann@example.com") + row("ann", "ann3@example.com"),
       "line 2: username"},
      {row("ann", "ann@example.com") + row("ann", "ann3@example.com") + row("x", "x@example.com"),
       "line 3: the username is also on line 2"},
  };
  for (const auto& [rows, reason] : cases) {
    INFO(rows);
    write_file(file, header + rows);
    const auto refused = import_file(target, file);
    INFO(refused.output);
    CHECK(refused.code == 1);
    CHECK_THAT(refused.output, Catch::Contains(file + " " + reason));
    CHECK_THAT(refused.output, !Catch::Contains(hash));
  }
  CHECK(user_count(target) == 1);
}

TEST_CASE("user import refuses bad arguments and unreadable files", "[e2e][import]") {
  const auto target = fresh_database_url();
  CHECK(run(AUTHD_BINARY, {"user", "import"}, base_env(target)).code == 2);
  CHECK(import_file(target, "/nonexistent", {"--format", "xml"}).code == 2);
  CHECK(import_file(target, "a.csv", {"b.csv"}).code == 2);
  const auto missing = import_file(target, "/nonexistent/users.csv");
  CHECK(missing.code == 1);
  CHECK_THAT(missing.output, Catch::Contains("/nonexistent/users.csv: cannot be read"));
  const TempDir dir("authd-test-import-");
  write_file(dir.file("empty.csv"), "");
  CHECK_THAT(import_file(target, dir.file("empty.csv")).output, Catch::Contains("empty"));
  write_file(dir.file("header.csv"), "name,mail,hash\n");
  const auto header = import_file(target, dir.file("header.csv"));
  CHECK(header.code == 1);
  CHECK_THAT(header.output, Catch::Contains("line 1: the header must name username, email"));
  const auto help = run(AUTHD_BINARY, {"user", "--help"});
  CHECK_THAT(help.output, Catch::Contains("user import FILE"));
}

TEST_CASE("a wrong password on a cheap imported hash answers no sooner than an unknown user",
          "[e2e][import]") {
  const auto hashes = foreign_hashes({{"werkzeug:pbkdf2:sha256:1000", "a password"},
                                      {"bcrypt:2b:4", "a password"},
                                      {"argon2:id:1:8:1", "a password"}});
  const TempDir dir("authd-test-import-");
  write_file(dir.file("users.csv"), "username,email,password_hash\nwzk,wz@ex.com," + hashes[0] +
                                        "\nbcr,bc@ex.com," + hashes[1] + "\narg,ar@ex.com,\"" +
                                        hashes[2] + "\"\n");
  const auto target = fresh_database_url();
  REQUIRE(import_file(target, dir.file("users.csv")).code == 0);
  AuthdServer server(
      target, {{"AUTHD_PBKDF2_ITERATIONS", "300000"}, {"AUTHD_LOGIN_LIMIT_ACCOUNT", "1000/15m"}});
  // The fastest of several tries of each, interleaved: load on the machine only ever adds time,
  // so the minima compare the work each answer cost.
  const auto time_of = [&](const std::string& email) {
    const auto started = std::chrono::steady_clock::now();
    CHECK(login(server.port(), "email", email, "wrong horse").status == 401);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  const std::vector<std::string> emails = {"nobody@ex.com", "wz@ex.com", "bc@ex.com", "ar@ex.com"};
  std::vector<double> fastest(emails.size(), 1e9);
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < emails.size(); ++i) {
      fastest[i] = std::min(fastest[i], time_of(emails[i]));
    }
  }
  for (std::size_t i = 1; i < emails.size(); ++i) {
    INFO(emails[i] << " " << fastest[i] << " s against an unknown user's " << fastest[0] << " s");
    CHECK(fastest[i] > fastest[0] * 0.6);
  }
}
