#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "auth/accounts.hpp"
#include "auth/hash_pool.hpp"
#include "db/async_db.hpp"
#include "db/conninfo.hpp"
#include "db/executor.hpp"
#include "db/statements.hpp"
#include "tests/pg/fault_proxy.hpp"
#include "tests/support/coro.hpp"
#include "tests/support/pg.hpp"

namespace net = boost::asio;
using namespace authd;
using namespace std::chrono_literals;

namespace {

using test::run_one;

net::awaitable<int> exec_rows(db::AsyncDb& database, const db::sql::Statement& statement,
                              std::vector<std::string> params) {
  const db::Rows rows = co_await database.exec(statement, std::move(params));
  co_return rows.size();
}

std::string setting(const db::ConnSettings& settings, const std::string& key) {
  for (const auto& [k, v] : settings) {
    if (k == key) return v;
  }
  return "<unset>";
}

// Backends of this test's database waiting for a lock.
int lock_waiters(const std::string& url) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx
      .exec(
          "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
          "wait_event_type = 'Lock'")[0][0]
      .as<int>();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

db::PoolOptions loop_options(const std::string& url, std::chrono::milliseconds client_timeout) {
  db::PoolOptions options{url, 2};
  options.statement_timeout = 60s;  // so the client's deadline is the one that fires
  options.client_timeout = client_timeout;
  return options;
}

}  // namespace

TEST_CASE("connection strings get keepalives and a read-write server unless they say otherwise",
          "[pg][db_faults][conninfo]") {
  const auto url =
      db::conn_settings("postgresql://u:p%27w@db.example.com:6543/app?sslmode=require");
  REQUIRE(url);
  CHECK(setting(*url, "host") == "db.example.com");
  CHECK(setting(*url, "port") == "6543");
  CHECK(setting(*url, "password") == "p'w");
  CHECK(setting(*url, "sslmode") == "require");
  CHECK(setting(*url, "keepalives") == "1");
  CHECK(setting(*url, "keepalives_idle") == "5");
  CHECK(setting(*url, "keepalives_interval") == "2");
  CHECK(setting(*url, "keepalives_count") == "3");
  CHECK(setting(*url, "tcp_user_timeout") == "10000");
  CHECK(setting(*url, "target_session_attrs") == "read-write");

  const auto own =
      db::conn_settings("host=a,b dbname='my db' keepalives_idle=30 target_session_attrs=any");
  REQUIRE(own);
  CHECK(setting(*own, "host") == "a,b");
  CHECK(setting(*own, "dbname") == "my db");
  CHECK(setting(*own, "keepalives_idle") == "30");
  CHECK(setting(*own, "target_session_attrs") == "any");
  CHECK(setting(*own, "keepalives_count") == "3");

  // The keyword string for libpqxx reads back the same, quotes and backslashes included.
  const std::string text = db::conninfo_with_defaults("host=h password='a\\'b\\\\c d'");
  const auto again = db::conn_settings(text);
  REQUIRE(again);
  CHECK(setting(*again, "password") == "a'b\\c d");
  CHECK(setting(*again, "keepalives") == "1");
  CHECK_FALSE(db::conn_settings("host='unterminated"));
  CHECK(db::conninfo_with_defaults("host='unterminated") == "host='unterminated");

  // And a real connection uses them.
  PGconn* c = db::connect_with_defaults(test::server_database_url());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PQconninfoOption* used = PQconninfo(c);
  std::string idle;
  for (auto* o = used; o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "keepalives_idle" && o->val != nullptr) idle = o->val;
  }
  PQconninfoFree(used);
  PQfinish(c);
  CHECK(idle == "5");
}

TEST_CASE(
    "a statement blocked past its deadline is cancelled, answers DatabaseUnavailable, and "
    "the connection is kept",
    "[pg][db_faults][async_db]") {
  const std::string url = test::fresh_database_url();
  net::io_context io;
  db::AsyncDb database(loop_options(url, 1000ms));
  CHECK(run_one(io, exec_rows(database, db::sql::kPing, {})) == 1);
  const auto opened = database.stats().open;

  pqxx::connection locker(url);
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");

  for (const auto* statement : {&db::sql::kFindClash, &db::sql::kInsertUser}) {
    INFO(statement->name);
    std::vector<std::string> params{"dora", "dora@ex.com"};
    if (statement == &db::sql::kInsertUser) params = {"dora", "dora@ex.com", "hash", "user"};
    const auto started = std::chrono::steady_clock::now();
    bool unknown = false;
    bool unavailable = false;
    try {
      run_one(io, exec_rows(database, *statement, params));
    } catch (const db::OutcomeUnknown&) {
      unknown = true;
    } catch (const db::DatabaseUnavailable&) {
      unavailable = true;
    }
    // The cancel took, so even the insert is known not to have happened.
    CHECK(unavailable);
    CHECK_FALSE(unknown);
    const double took = seconds_since(started);
    CHECK(took >= 0.9);
    CHECK(took < 4);
    // PQcancel stopped it in PostgreSQL too: nothing is left waiting for the lock.
    CHECK(lock_waiters(url) == 0);
  }
  lock->commit();
  lock.reset();

  // The same connection goes on (drained, not dropped), and the insert never happened.
  CHECK(run_one(io, exec_rows(database, db::sql::kInsertUser,
                              {"dora", "dora@ex.com", "hash", "user"})) == 1);
  CHECK(database.stats().open == opened);
  CHECK(database.retried() == 0);
}

TEST_CASE("a statement may run only on the path its constant names", "[pg][db_faults][async_db]") {
  net::io_context io;
  db::AsyncDb database({test::fresh_database_url(), 1});
  CHECK_THROWS_AS(run_one(io, exec_rows(database, db::sql::kUpgradeHash, {"1", "a", "b"})),
                  std::logic_error);
  for (const auto* statement : db::AsyncDb::async_statements()) CHECK(statement->on_loop());
}

TEST_CASE("a connection to a read-only server is dropped and opened again",
          "[pg][db_faults][async_db]") {
  const std::string url = test::fresh_database_url();
  const std::string name = url.substr(url.rfind('/') + 1);
  const auto set_read_only = [&](bool on) {
    pqxx::connection admin(test::server_database_url());  // not read-only itself
    pqxx::nontransaction tx(admin);
    tx.exec(
        "ALTER DATABASE " + tx.quote_name(name) +
        (on ? " SET default_transaction_read_only = on" : " RESET default_transaction_read_only"));
  };
  // A write that touches no row: a read-only server refuses it all the same (25006).
  const std::vector<std::string> failure{"{}", "{}", "{}", "1"};
  set_read_only(true);
  {
    // By default libpq refuses a read-only server while connecting.
    net::io_context io;
    db::AsyncDb database({url, 1});
    CHECK_THROWS_AS(run_one(io, exec_rows(database, db::sql::kLimitSettle, failure)),
                    db::DatabaseUnavailable);
    CHECK(database.stats().open == 0);
  }
  {
    // Told to take any server, the write's 25006 drops the connection and tries a fresh one.
    net::io_context io;
    db::AsyncDb database({url + "?target_session_attrs=any", 1});
    CHECK(run_one(io, exec_rows(database, db::sql::kPing, {})) == 1);
    CHECK_THROWS_AS(run_one(io, exec_rows(database, db::sql::kLimitSettle, failure)),
                    db::DatabaseUnavailable);
    CHECK(database.stats().open == 0);
    CHECK(database.retried() == 1);
    set_read_only(false);  // "promoted": the next connection can write
    CHECK(run_one(io, exec_rows(database, db::sql::kLimitSettle, failure)) == 0);
  }
}

namespace {

constexpr std::uint32_t kIterations = 1000;

// Accounts whose event-loop connections go through a FaultProxy.
struct ProxiedAccounts {
  explicit ProxiedAccounts(std::chrono::milliseconds client_timeout = 5000ms)
      : url(test::fresh_database_url()),
        proxy(test::url_port(url)),
        pool({url, 2}),
        db(pool, 2, 64),
        requests(loop_options(proxy.url_through(url), client_timeout)),
        hashes(1, 16),
        accounts(db, requests, hashes, {kIterations, 3600s, {10, 900s}, {100, 900s}}) {}

  template <class T>
  T await(net::awaitable<T> coroutine) {
    return run_one(io, std::move(coroutine));
  }
  auth::Result<auth::User> signup(const std::string& name) {
    return await(accounts.signup({name, name + "@ex.com", "correct horse"}));
  }
  auth::Result<auth::LoginResult> login(const std::string& name) {
    return await(accounts.login({name, false, "correct horse", "192.0.2.1"}));
  }
  int count(const std::string& query) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec(query)[0][0].as<int>();
  }

  net::io_context io;
  std::string url;
  test::FaultProxy proxy;
  db::ConnectionPool pool;
  db::DbExecutor db;
  db::AsyncDb requests;
  auth::HashPool hashes;
  auth::Accounts accounts;
};

std::string describe(const auth::Error& error) {
  return error.code;
}

}  // namespace

TEST_CASE("a sign-up whose reply is lost after it committed answers with its user, not 409",
          "[pg][db_faults][accounts]") {
  for (const bool cut : {true, false}) {
    INFO((cut ? "the connection is cut" : "the reply never comes (deadline)"));
    ProxiedAccounts w(1000ms);
    REQUIRE(std::holds_alternative<auth::User>(w.signup("first")));  // connections are open
    w.proxy.arm("ghost_user", cut);
    const auto outcome = w.signup("ghost_user");
    CHECK(w.proxy.triggered());
    if (const auto* error = std::get_if<auth::Error>(&outcome)) FAIL("got " << describe(*error));
    CHECK(std::get<auth::User>(outcome).username == "ghost_user");
    CHECK(w.count("SELECT count(*) FROM users WHERE username = 'ghost_user'") == 1);
    CHECK(w.requests.retried() == 0);  // the insert ran once
  }
}

TEST_CASE("a login whose new session's reply is lost answers with that session",
          "[pg][db_faults][accounts]") {
  ProxiedAccounts w;
  REQUIRE(std::holds_alternative<auth::User>(w.signup("sam")));
  REQUIRE(std::holds_alternative<auth::LoginResult>(w.login("sam")));
  w.proxy.arm("insert_session", true);
  const auto outcome = w.login("sam");
  CHECK(w.proxy.triggered());
  if (const auto* error = std::get_if<auth::Error>(&outcome)) FAIL("got " << describe(*error));
  const auto& result = std::get<auth::LoginResult>(outcome);
  CHECK(!result.expires_at.empty());
  const auto session = w.await(w.accounts.authenticate(result.token));
  REQUIRE(session);
  CHECK(session->user.username == "sam");
  CHECK(w.count("SELECT count(*) FROM sessions") == 2);
}

TEST_CASE("a sign-up whose insert was cut off before it committed is 503, then works",
          "[pg][db_faults][accounts]") {
  ProxiedAccounts w;
  REQUIRE(std::holds_alternative<auth::User>(w.signup("first")));
  // The insert waits for the lock; its backend is terminated while it waits: nothing commits.
  pqxx::connection locker(w.url);
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE users IN SHARE MODE");
  std::thread killer([&w] {
    for (int i = 0; i < 200; ++i) {
      std::this_thread::sleep_for(20ms);
      pqxx::connection admin(w.url);
      pqxx::nontransaction tx(admin);
      const auto rows = tx.exec(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
          "current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO users%'");
      if (!rows.empty()) return;
    }
  });
  auto outcome = std::async(std::launch::async, [&w] { return w.signup("cut_user"); });
  killer.join();
  std::this_thread::sleep_for(200ms);
  lock->commit();  // free again: a statement tried again now would succeed
  bool unavailable = false;
  try {
    const auto result = outcome.get();
    if (const auto* error = std::get_if<auth::Error>(&result)) FAIL("got " << describe(*error));
    FAIL("the cut-off sign-up answered as if it had not been cut off");
  } catch (const db::DatabaseUnavailable&) {
    unavailable = true;
  }
  CHECK(unavailable);
  CHECK(w.count("SELECT count(*) FROM users WHERE username = 'cut_user'") == 0);
  CHECK(std::holds_alternative<auth::User>(w.signup("cut_user")));
}
