#include <catch2/catch.hpp>

#include <future>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "db/executor.hpp"
#include "db/migrations.hpp"
#include "db/statements.hpp"
#include "tests/support/pg.hpp"

namespace net = boost::asio;
using namespace authd;
using namespace std::chrono_literals;

namespace {

int backend_pid(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
}

void terminate_backend(const std::string& url, int pid) {
  pqxx::connection admin(url);
  pqxx::nontransaction tx(admin);
  tx.exec_params("SELECT pg_terminate_backend($1)", pid);
}

// A free function, not a lambda: a coroutine lambda's captures die with the lambda object.
net::awaitable<int> sleepy_backend_pid(db::DbExecutor& executor) {
  auto query = [](pqxx::connection& c) {
    {
      pqxx::nontransaction tx(c);
      tx.exec("SELECT pg_sleep(0.02)");
    }
    return backend_pid(c);
  };
  co_return co_await executor.run(std::move(query));
}

}  // namespace

TEST_CASE("more callers than connections all get served, on at most size connections",
          "[pg][pool]") {
  net::io_context io;  // first: it must outlive the DB threads' completions
  db::ConnectionPool pool({test::fresh_database_url(), 3});
  db::DbExecutor executor(pool, 3, 1000);
  std::vector<std::future<int>> results;
  for (int i = 0; i < 30; ++i) {
    results.push_back(net::co_spawn(io, sleepy_backend_pid(executor), net::use_future));
  }
  io.run();
  std::set<int> pids;
  for (auto& r : results) pids.insert(r.get());
  CHECK(pids.size() <= 3);
  CHECK(pids.size() >= 1);
  CHECK(pool.stats().opened_total <= 3);
  CHECK(pool.stats().in_use == 0);
}

TEST_CASE("a caller waits for a connection until the deadline, then gets PoolExhausted",
          "[pg][pool]") {
  db::ConnectionPool pool({test::fresh_database_url(), 1, 200ms});
  auto held = pool.acquire();
  const auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(pool.acquire(), db::PoolExhausted);
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(waited >= 190ms);
  CHECK(waited < 2s);
}

TEST_CASE("a released lease is reused rather than reopened", "[pg][pool]") {
  db::ConnectionPool pool({test::fresh_database_url(), 2});
  int first = 0;
  {
    auto lease = pool.acquire();
    first = backend_pid(lease.connection());
  }
  auto again = pool.acquire();
  CHECK(backend_pid(again.connection()) == first);
  CHECK(pool.stats().opened_total == 1);
}

TEST_CASE("a connection killed by pg_terminate_backend is replaced transparently", "[pg][pool]") {
  net::io_context io;  // first: it must outlive the DB threads' completions
  const auto url = test::fresh_database_url();
  db::ConnectionPool pool({url, 1});
  db::DbExecutor executor(pool, 1, 10);
  auto pid_call = [&executor]() -> net::awaitable<int> {
    auto query = [](pqxx::connection& c) { return backend_pid(c); };
    co_return co_await executor.run(std::move(query));
  };
  auto first = net::co_spawn(io, pid_call(), net::use_future);
  io.run();
  const int old_pid = first.get();
  terminate_backend(url, old_pid);
  std::this_thread::sleep_for(100ms);
  io.restart();
  auto second = net::co_spawn(io, pid_call(), net::use_future);
  io.run();
  const int new_pid = second.get();
  CHECK(new_pid != old_pid);
  CHECK(pool.stats().opened_total == 2);
}

TEST_CASE("an unreachable database fails fast with DatabaseUnavailable", "[pg][pool]") {
  net::io_context io;  // first: it must outlive the DB threads' completions
  // A port nothing listens on: connecting is refused at once.
  db::ConnectionPool pool({"postgresql://authd@127.0.0.1:1/authd", 2});
  db::DbExecutor executor(pool, 2, 10);
  auto call = [&executor]() -> net::awaitable<int> {
    auto query = [](pqxx::connection&) { return 1; };
    co_return co_await executor.run(std::move(query));
  };
  auto result = net::co_spawn(io, call(), net::use_future);
  const auto started = std::chrono::steady_clock::now();
  io.run();
  CHECK_THROWS_AS(result.get(), db::DatabaseUnavailable);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
}

TEST_CASE("a timed call gives up on a slow statement in time", "[pg][pool]") {
  net::io_context io;  // first: it must outlive the DB threads' completions
  db::ConnectionPool pool({test::fresh_database_url(), 1});
  db::DbExecutor executor(pool, 1, 10);
  auto call = [&executor]() -> net::awaitable<int> {
    auto query = [](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec("SELECT pg_sleep(1)");
      return 1;
    };
    co_return co_await executor.run(std::move(query), 200ms);
  };
  auto result = net::co_spawn(io, call(), net::use_future);
  const auto started = std::chrono::steady_clock::now();
  io.run_for(3s);
  CHECK_THROWS_AS(result.get(), db::DatabaseUnavailable);
  CHECK(std::chrono::steady_clock::now() - started < 1s + 500ms);
}

TEST_CASE("statement_timeout is set on every pooled connection", "[pg][pool]") {
  db::ConnectionPool pool({test::fresh_database_url(), 1, 1s, 1234ms});
  auto lease = pool.acquire();
  pqxx::nontransaction tx(lease.connection());
  CHECK(tx.exec("SHOW statement_timeout")[0][0].as<std::string>() == "1234ms");
}

TEST_CASE("migrations applied twice change nothing", "[pg][migrations]") {
  const auto url = test::fresh_database_url(false);
  pqxx::connection c(url);
  CHECK(db::migrate(c) == static_cast<int>(db::migrations().size()));
  const auto schema = [&c] {
    pqxx::nontransaction tx(c);
    return tx
        .exec(
            "SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' "
            "ORDER BY table_name, column_name) FROM information_schema.columns "
            "WHERE table_schema = 'public'")[0][0]
        .as<std::string>();
  };
  const std::string before = schema();
  CHECK(db::migrate(c) == 0);
  CHECK(schema() == before);
  pqxx::nontransaction tx(c);
  CHECK(tx.exec("SELECT count(*) FROM schema_migrations")[0][0].as<int>() ==
        static_cast<int>(db::migrations().size()));
}

TEST_CASE("two instances migrating at once take turns", "[pg][migrations]") {
  const auto url = test::fresh_database_url(false);
  auto a = std::async(std::launch::async, [&url] {
    pqxx::connection c(url);
    return db::migrate(c);
  });
  auto b = std::async(std::launch::async, [&url] {
    pqxx::connection c(url);
    return db::migrate(c);
  });
  const int applied = a.get() + b.get();
  CHECK(applied == static_cast<int>(db::migrations().size()));
}

TEST_CASE("usernames and emails are unique case-insensitively in the schema", "[pg][migrations]") {
  pqxx::connection c(test::fresh_database_url());
  pqxx::work tx(c);
  tx.exec("INSERT INTO users (username, email, password_hash) VALUES ('Jack', 'J@g.com', 'x')");
  CHECK_THROWS_AS(
      tx.exec("INSERT INTO users (username, email, password_hash) VALUES ('jACK', 'o@g.com', 'x')"),
      pqxx::unique_violation);
}
