#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <pqxx/nontransaction>

#include "db/async_db.hpp"
#include "db/statements.hpp"
#include "tests/support/coro.hpp"
#include "tests/support/pg.hpp"

namespace net = boost::asio;
using namespace authd;
using namespace std::chrono_literals;

namespace {

// Not among the prepared statements: these run through PQsendQueryParams.
constexpr auto kLoop = db::sql::Path::loop;
constexpr db::sql::Statement kBackendPid{"test_backend_pid", "SELECT pg_backend_pid()", false,
                                         kLoop};
constexpr db::sql::Statement kSleepThenPid{
    "test_sleep_pid", "SELECT pg_backend_pid() FROM pg_sleep($1::float8)", false, kLoop};
constexpr db::sql::Statement kEcho{"test_echo", "SELECT $1::text, $2::bigint, NULL::text", false,
                                   kLoop};
constexpr db::sql::Statement kDivideByZero{"test_divide", "SELECT 1 / $1::int", false, kLoop};
constexpr db::sql::Statement kReadPid{"test_read_pid", "SELECT pg_backend_pid()", true, kLoop};

// Free functions, not lambdas: a coroutine lambda's captures die with the lambda object.
net::awaitable<int> backend_pid(db::AsyncDb& database) {
  const db::Rows rows = co_await database.exec(kBackendPid, {});
  co_return static_cast<int>(rows.integer(0, 0));
}

net::awaitable<int> sleepy_backend_pid(db::AsyncDb& database, std::string seconds) {
  std::vector<std::string> params{std::move(seconds)};
  const db::Rows rows = co_await database.exec(kSleepThenPid, std::move(params));
  co_return static_cast<int>(rows.integer(0, 0));
}

net::awaitable<int> read_backend_pid(db::AsyncDb& database) {
  const db::Rows rows = co_await database.exec(kReadPid, {});
  co_return static_cast<int>(rows.integer(0, 0));
}

using test::run_one;

void terminate_backend(const std::string& url, int pid) {
  pqxx::connection admin(url);
  pqxx::nontransaction tx(admin);
  tx.exec_params("SELECT pg_terminate_backend($1)", pid);
}

net::awaitable<std::string> echo(db::AsyncDb& database) {
  std::vector<std::string> params{"it's \"quoted\"", "-42"};
  const db::Rows rows = co_await database.exec(kEcho, std::move(params));
  std::string out = rows.string(0, 0) + "|" + std::to_string(rows.integer(0, 1)) + "|" +
                    (rows.is_null(0, 2) ? "null" : "value");
  co_return out;
}

net::awaitable<int> ping(db::AsyncDb& database) {
  const db::Rows rows = co_await database.exec(db::sql::kPing, {});
  co_return static_cast<int>(rows.integer(0, 0));
}

net::awaitable<int> divide(db::AsyncDb& database, std::string by) {
  std::vector<std::string> params{std::move(by)};
  const db::Rows rows = co_await database.exec(kDivideByZero, std::move(params));
  co_return static_cast<int>(rows.integer(0, 0));
}

}  // namespace

TEST_CASE("an event-loop statement returns its rows, text, numbers and NULLs", "[pg][async_db]") {
  net::io_context io;
  db::AsyncDb database({test::fresh_database_url(), 2});
  CHECK(run_one(io, echo(database)) == "it's \"quoted\"|-42|null");
  CHECK(run_one(io, ping(database)) == 1);  // a prepared one
  CHECK(database.stats().open == 1);
  CHECK(database.stats().in_use == 0);
  CHECK(database.stats().size == 3);  // two for anything, one for reads only
}

TEST_CASE("a failing statement throws StatementError and leaves the connection usable",
          "[pg][async_db]") {
  net::io_context io;
  db::AsyncDb database({test::fresh_database_url(), 1});
  const int pid = run_one(io, backend_pid(database));
  try {
    run_one(io, divide(database, "0"));
    FAIL("division by zero did not throw");
  } catch (const db::StatementError& e) {
    CHECK(e.sqlstate() == "22012");
  }
  CHECK(run_one(io, divide(database, "1")) == 1);
  CHECK(run_one(io, backend_pid(database)) == pid);
  CHECK(database.retried() == 0);
}

TEST_CASE("more statements than connections all run, on at most that many connections",
          "[pg][async_db]") {
  net::io_context io;
  db::AsyncDb database({test::fresh_database_url(), 3});
  std::vector<std::future<int>> results;
  for (int i = 0; i < 30; ++i) {
    results.push_back(net::co_spawn(io, sleepy_backend_pid(database, "0.02"), net::use_future));
  }
  io.run();
  std::set<int> pids;
  for (auto& r : results) pids.insert(r.get());
  CHECK(pids.size() <= 3);
  CHECK(pids.size() >= 2);
  CHECK(database.stats().open <= 3);
  CHECK(database.stats().waiting == 0);
}

TEST_CASE("each io_context gets connections of its own", "[pg][async_db]") {
  net::io_context first;
  net::io_context second;
  db::AsyncDb database({test::fresh_database_url(), 1});
  const int a = run_one(first, backend_pid(database));
  const int b = run_one(second, backend_pid(database));
  CHECK(a != b);
  CHECK(run_one(first, backend_pid(database)) == a);
  CHECK(database.stats().size == 4);
}

TEST_CASE("a statement waits for a busy connection until the deadline, then PoolExhausted",
          "[pg][async_db]") {
  net::io_context io;
  db::PoolOptions options{test::fresh_database_url(), 1};
  options.acquire_timeout = 200ms;
  db::AsyncDb database(options);
  auto slow = net::co_spawn(io, sleepy_backend_pid(database, "1"), net::use_future);
  auto starved = net::co_spawn(io, backend_pid(database), net::use_future);
  const auto started = std::chrono::steady_clock::now();
  io.run();
  CHECK_THROWS_AS(starved.get(), db::PoolExhausted);
  CHECK(slow.get() > 0);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
}

TEST_CASE("an event-loop connection killed by pg_terminate_backend is replaced transparently",
          "[pg][async_db]") {
  const std::string url = test::fresh_database_url();
  net::io_context io;
  db::AsyncDb database({url, 2});
  const int old_pid = run_one(io, backend_pid(database));
  terminate_backend(url, old_pid);
  std::this_thread::sleep_for(100ms);
  const int new_pid = run_one(io, backend_pid(database));
  CHECK(new_pid != old_pid);
  CHECK(database.retried() == 1);
  CHECK(database.stats().open == 1);
}

TEST_CASE("a statement cut off mid-way on a fresh connection is DatabaseUnavailable",
          "[pg][async_db]") {
  const std::string url = test::fresh_database_url();
  net::io_context io;
  db::AsyncDb database({url, 1});
  auto slow = net::co_spawn(io, sleepy_backend_pid(database, "5"), net::use_future);
  // Find the sleeping backend from outside (in this test's own database: tests run side by
  // side) and end it while the statement runs.
  std::thread killer([&] {
    pqxx::connection admin(url);
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(20ms);
      pqxx::nontransaction tx(admin);
      const auto rows = tx.exec(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE "
          "'%pg_sleep($1::float8)%' AND pid <> pg_backend_pid()");
      if (!rows.empty()) {
        tx.exec_params("SELECT pg_terminate_backend($1)", rows[0][0].as<int>());
        return;
      }
    }
  });
  const auto started = std::chrono::steady_clock::now();
  io.run();
  killer.join();
  CHECK_THROWS_AS(slow.get(), db::DatabaseUnavailable);
  CHECK(std::chrono::steady_clock::now() - started < 4s);
  CHECK(database.stats().open == 0);
  // And the next statement opens a new connection.
  CHECK(run_one(io, backend_pid(database)) > 0);
}

TEST_CASE("an unreachable database fails fast, then at once until the back-off passes",
          "[pg][async_db]") {
  net::io_context io;
  db::PoolOptions options{"postgresql://authd@127.0.0.1:1/authd", 2};
  options.reconnect_backoff = 300ms;
  db::AsyncDb database(options);
  const auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(run_one(io, backend_pid(database)), db::DatabaseUnavailable);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK_THROWS_AS(run_one(io, backend_pid(database)), db::DatabaseUnavailable);
  CHECK(database.stats().open == 0);
}

TEST_CASE("statement_timeout is set on the event loops' connections too", "[pg][async_db]") {
  net::io_context io;
  db::PoolOptions options{test::fresh_database_url(), 1};
  options.statement_timeout = 100ms;
  db::AsyncDb database(options);
  const auto started = std::chrono::steady_clock::now();
  // 57014 (query_canceled) is the database being unavailable in time, like the client deadline.
  CHECK_THROWS_AS(run_one(io, sleepy_backend_pid(database, "2")), db::DatabaseUnavailable);
  CHECK(std::chrono::steady_clock::now() - started < 1900ms);  // the server's 100 ms, not 2 s
  CHECK(run_one(io, backend_pid(database)) > 0);
  CHECK(database.stats().open == 1);  // the same connection: a cancelled statement keeps it
}

TEST_CASE("a stopped AsyncDb refuses statements", "[pg][async_db]") {
  net::io_context io;
  db::AsyncDb database({test::fresh_database_url(), 1});
  CHECK(run_one(io, ping(database)) == 1);
  database.stop();
  CHECK_THROWS_AS(run_one(io, ping(database)), db::DatabaseUnavailable);
}

TEST_CASE("a read-only statement does not wait while writes hold every other connection",
          "[pg][async_db]") {
  net::io_context io;
  db::AsyncDb database({test::fresh_database_url(), 1});
  // Statements not marked read-only count as writes: two slow ones, one connection for them.
  auto first = net::co_spawn(io, sleepy_backend_pid(database, "0.6"), net::use_future);
  auto second = net::co_spawn(io, sleepy_backend_pid(database, "0.6"), net::use_future);
  std::chrono::steady_clock::duration read_took{};
  auto timed_read = [&]() -> net::awaitable<int> {
    const auto started = std::chrono::steady_clock::now();
    const int pid = co_await read_backend_pid(database);
    read_took = std::chrono::steady_clock::now() - started;
    co_return pid;
  };
  auto read = net::co_spawn(io, timed_read(), net::use_future);
  const auto started = std::chrono::steady_clock::now();
  io.run();
  const int a = first.get();
  const int b = second.get();
  const int r = read.get();
  CHECK(a == b);  // the writes took turns on their one connection
  CHECK(r != a);  // the read had the other
  CHECK(read_took < 400ms);
  CHECK(std::chrono::steady_clock::now() - started >= 1200ms);
  CHECK(database.stats().open == 2);
}
