#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <pqxx/nontransaction>

#include "auth/accounts.hpp"
#include "auth/hash_pool.hpp"
#include "auth/limits.hpp"
#include "auth/password.hpp"
#include "auth/pbkdf2.hpp"
#include "tests/support/coro.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/results.hpp"

namespace net = boost::asio;
using namespace authd;
using namespace std::chrono_literals;

namespace {

using test::error_of;
using test::kind_of;
using test::value_of;

constexpr std::uint32_t kIterations = 1000;

auth::AccountsOptions options(auth::RateLimit account = {10, 900s},
                              auth::RateLimit address = {100, 900s},
                              std::uint32_t iterations = kIterations) {
  return {iterations, 3600s, account, address};
}

struct World {
  explicit World(auth::AccountsOptions accounts_options = options())
      : url(test::fresh_database_url()),
        pool({url, 4}),
        db(pool, 4, 256),
        requests({url, 2}),
        hashes(2, 64),
        accounts(db, requests, hashes, accounts_options) {}

  template <class T>
  T await(net::awaitable<T> coroutine) {
    return test::run_one(io, std::move(coroutine));
  }

  auth::Result<auth::User> signup(
      std::string username, std::string email, std::string address = "192.0.2.1",
      std::function<bool()> gone = [] { return false; }) {
    return await(accounts.signup(
        {std::move(username), std::move(email), "correct horse", std::move(address), gone}));
  }

  auth::Result<auth::LoginResult> login(
      std::string identifier, bool by_email, std::string password = "correct horse",
      std::string address = "192.0.2.1", std::function<bool()> gone = [] { return false; }) {
    return await(accounts.login(
        {std::move(identifier), by_email, std::move(password), std::move(address), gone}));
  }

  std::string scalar(const std::string& query) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    const auto rows = tx.exec(query);
    return rows.empty() || rows[0][0].is_null() ? "" : rows[0][0].as<std::string>();
  }

  net::io_context io;
  std::string url;
  db::ConnectionPool pool;
  db::DbExecutor db;
  db::AsyncDb requests;
  auth::HashPool hashes;
  auth::Accounts accounts;
};

std::vector<auth::LimitKey> one_key(const std::string& key, auth::RateLimit limit) {
  std::vector<auth::LimitKey> keys;
  keys.push_back({key, limit});
  return keys;
}

// A coroutine function, not a lambda: its arguments live in its frame.
net::awaitable<std::vector<unsigned char>> derive_for(auth::HashPool& hashes,
                                                      std::vector<unsigned char> salt,
                                                      std::string password, bool gone) {
  co_return co_await hashes.derive(std::move(password), std::move(salt), 2000, 32,
                                   [gone] { return gone; });
}

}  // namespace

TEST_CASE("the limiter counts first: of 50 simultaneous attempts exactly the limit pass",
          "[pg][limits]") {
  World w;
  auth::Limiter& limiter = w.accounts.limiter();
  std::vector<std::future<auth::Tally>> counts;
  for (int i = 0; i < 50; ++i) {
    counts.push_back(
        net::co_spawn(w.io, limiter.count(one_key("test:race", {10, 900s})), net::use_future));
  }
  w.io.restart();
  w.io.run();
  std::vector<std::int64_t> seen;
  int passed = 0;
  for (auto& c : counts) {
    const auto tally = c.get();
    REQUIRE(tally.counts.size() == 1);
    seen.push_back(tally.counts[0].attempts);
    passed += !tally.over();
    if (tally.over()) CHECK(tally.retry_after() > 0);
  }
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 50; ++i) CHECK(seen[i] == i + 1);
  CHECK(passed == 10);
}

TEST_CASE("counts from two event loops at once are exact: each attempt its own number",
          "[pg][limits]") {
  // Each loop carries its simultaneous counts out together; the two loops' statements meet only
  // in PostgreSQL, and no number is given twice or skipped.
  World w;
  auth::Limiter& limiter = w.accounts.limiter();
  net::io_context second;
  std::vector<std::future<auth::Tally>> counts;
  for (int i = 0; i < 60; ++i) {
    counts.push_back(net::co_spawn(
        i % 2 ? w.io : second, limiter.count(one_key("test:loops", {10, 900s})), net::use_future));
  }
  w.io.restart();
  std::thread other([&] { second.run(); });
  w.io.run();
  other.join();
  std::vector<std::int64_t> seen;
  int passed = 0;
  for (auto& c : counts) {
    const auto tally = c.get();
    REQUIRE(tally.counts.size() == 1);
    seen.push_back(tally.counts[0].attempts);
    passed += !tally.over();
  }
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 60; ++i) CHECK(seen[i] == i + 1);
  CHECK(passed == 10);
  CHECK(w.scalar("SELECT attempts FROM rate_limits WHERE key = 'test:loops'") == "60");
}

TEST_CASE("the limiter gives back an attempt in its own window only, and clears keys",
          "[pg][limits]") {
  World w;
  auth::Limiter& limiter = w.accounts.limiter();
  std::vector<auth::LimitKey> two;
  two.push_back({"test:b", {2, 600s}});
  two.push_back({"test:a", {1, 600s}});
  two.push_back({"test:a", {1, 600s}});  // a duplicate counts once
  const auto first = w.await(limiter.count(two));
  REQUIRE(first.counts.size() == 2);
  CHECK_FALSE(first.over());
  const auto second = w.await(limiter.count(two));
  CHECK(second.over());  // test:a is at 2 > 1
  CHECK(second.retry_after() > 590);
  CHECK(second.retry_after() <= 600);
  w.await(limiter.settle(second));
  CHECK(w.scalar("SELECT string_agg(key || '=' || attempts, ',' ORDER BY key) FROM rate_limits") ==
        "test:a=1,test:b=1");

  // A refund that comes after its window ended does not touch the next window.
  w.scalar("UPDATE rate_limits SET window_start = now() - interval '11 minutes' RETURNING 1");
  const auto fresh = w.await(limiter.count(two));
  CHECK_FALSE(fresh.over());
  w.await(limiter.settle(first));
  CHECK(w.scalar("SELECT string_agg(key || '=' || attempts, ',' ORDER BY key) FROM rate_limits") ==
        "test:a=1,test:b=1");

  std::vector<std::string> cleared = {"test:a"};
  w.await(limiter.settle(fresh, cleared));
  // A cleared key's count starts again from zero (the row stays, for its index's sake).
  CHECK(w.scalar("SELECT string_agg(key || '=' || attempts, ',' ORDER BY key) FROM rate_limits") ==
        "test:a=0,test:b=0");
  // Keys with quotes, backslashes, commas and braces pass through the array literal unchanged.
  const std::string odd = R"(test:"a\b,{c} d')";
  const auto counted = w.await(limiter.count(one_key(odd, {5, 60s})));
  REQUIRE(counted.counts.size() == 1);
  CHECK(counted.counts[0].key == odd);
  pqxx::connection c(w.url);
  pqxx::nontransaction tx(c);
  CHECK(tx.exec_params1("SELECT count(*) FROM rate_limits WHERE key = $1", odd)[0]
            .as<std::string>() == "1");
}

TEST_CASE("50 simultaneous wrong logins for one account: at most 10 are hashed", "[pg][limits]") {
  World w;
  value_of(w.signup("ann", "ann@example.com"));
  const auto hashed_before = w.hashes.started();
  std::vector<std::future<auth::Result<auth::LoginResult>>> logins;
  for (int i = 0; i < 50; ++i) {
    logins.push_back(net::co_spawn(
        w.io, w.accounts.login({"ann@example.com", true, "wrong password", "192.0.2.1"}),
        net::use_future));
  }
  w.io.restart();
  w.io.run();
  int unauthenticated = 0, limited = 0;
  for (auto& login : logins) {
    const auto outcome = login.get();
    const auto kind = kind_of(outcome);
    unauthenticated += kind == auth::ErrorKind::unauthenticated;
    limited += kind == auth::ErrorKind::limited;
  }
  CHECK(unauthenticated <= 10);
  CHECK(unauthenticated + limited == 50);
  CHECK(w.hashes.started() - hashed_before == static_cast<std::uint64_t>(unauthenticated));
  // The right password now is refused too, unhashed.
  CHECK(kind_of(w.login("ann", false)) == auth::ErrorKind::limited);
  CHECK(w.hashes.started() - hashed_before == static_cast<std::uint64_t>(unauthenticated));
}

TEST_CASE("email, username and every spelling count against one account", "[pg][limits]") {
  World w(options({4, 900s}));
  value_of(w.signup("Bea", "Bea@Example.com"));
  CHECK(kind_of(w.login("bea@example.com", true, "wrong 1")) == auth::ErrorKind::unauthenticated);
  CHECK(kind_of(w.login("BEA", false, "wrong 2")) == auth::ErrorKind::unauthenticated);
  CHECK(kind_of(w.login("bea", false, "wrong 3", "198.51.100.1")) ==
        auth::ErrorKind::unauthenticated);
  CHECK(kind_of(w.login("BEA@example.COM", true, "wrong 4")) == auth::ErrorKind::unauthenticated);
  CHECK(kind_of(w.login("bea", false)) == auth::ErrorKind::limited);
  // Unknown identifiers are keyed as sent, lower-cased.
  World v(options({2, 900s}));
  CHECK(kind_of(v.login("Ghost@Example.com", true)) == auth::ErrorKind::unauthenticated);
  CHECK(kind_of(v.login("ghost@example.com", true)) == auth::ErrorKind::unauthenticated);
  CHECK(kind_of(v.login("GHOST@example.com", false)) == auth::ErrorKind::limited);
}

TEST_CASE("a wrong current password is a failed login of the account", "[pg][limits]") {
  World w(options({3, 900s}));
  value_of(w.signup("cyd", "cyd@example.com"));
  const auto session_token = value_of(w.login("cyd", false)).token;
  const auto session = w.await(w.accounts.authenticate(session_token));
  REQUIRE(session);
  CHECK(kind_of(w.login("cyd", false, "wrong one")) == auth::ErrorKind::unauthenticated);
  const auto change = [&](std::string current) {
    return w.await(w.accounts.change_password(*session, std::move(current), "new password!"));
  };
  CHECK(error_of(change("wrong two")).code == "invalid_credentials");
  CHECK(error_of(change("wrong three")).code == "invalid_credentials");
  const auto limited = change("correct horse");
  CHECK(error_of(limited).kind == auth::ErrorKind::limited);
  CHECK(error_of(limited).code == "too_many_attempts");
  CHECK(error_of(limited).retry_after > 0);
  CHECK(kind_of(w.login("cyd@example.com", true)) == auth::ErrorKind::limited);
  // A current password that is not UTF-8 is refused by its form.
  CHECK(error_of(change("\xff\xfe password")).code == "invalid_password");
}

TEST_CASE("sign-ups are limited per client address, nullopt turns that off", "[pg][limits]") {
  auto limited = options();
  limited.signup_address = auth::RateLimit{3, 3600s};
  World w(limited);
  for (int i = 0; i < 3; ++i) {
    value_of(w.signup("user" + std::to_string(i), "u" + std::to_string(i) + "@example.com",
                      "2001:db8:5:5::" + std::to_string(i + 1)));
  }
  const auto refused = w.signup("user3", "u3@example.com", "2001:db8:5:5::99");
  CHECK(error_of(refused).kind == auth::ErrorKind::limited);
  CHECK(error_of(refused).code == "too_many_signups");
  CHECK(error_of(refused).retry_after > 3500);
  CHECK(w.accounts.counters().signups_limited == 1);
  value_of(w.signup("user3", "u3@example.com", "192.0.2.77"));
  CHECK(w.scalar("SELECT count(*) FROM users") == "4");

  auto unlimited = options();
  unlimited.signup_address = std::nullopt;
  World v(unlimited);
  for (int i = 0; i < 5; ++i) {
    value_of(v.signup("free" + std::to_string(i), "f" + std::to_string(i) + "@example.com"));
  }
  CHECK(v.scalar("SELECT count(*) FROM rate_limits") == "0");
}

TEST_CASE("identifiers with NUL, bad UTF-8, controls or over 254 bytes are invalid_login, unhashed",
          "[pg][limits]") {
  World w;
  value_of(w.signup("ann", "ann@example.com"));
  const auto hashed_before = w.hashes.started();
  const std::vector<std::pair<std::string, bool>> bad = {
      {std::string("ann@example.com\0x", 17), true},
      {std::string("ann\0", 4), false},
      {"\xff@x.io", true},
      {"ann\x1b[0m", false},
      {"ann\xc2\x85", false},  // U+0085, a C1 control
      {std::string(255, 'a'), true},
      {std::string(4096, 'z'), false},
  };
  for (const auto& [identifier, by_email] : bad) {
    const auto outcome = w.login(identifier, by_email);
    CHECK(error_of(outcome).kind == auth::ErrorKind::invalid);
    CHECK(error_of(outcome).code == "invalid_login");
  }
  CHECK(w.hashes.started() == hashed_before);
  CHECK(w.scalar("SELECT count(*) FROM rate_limits WHERE key LIKE 'login:%'") == "0");
  // 254 bytes is still a login (of nobody).
  CHECK(kind_of(w.login(std::string(254, 'a'), true)) == auth::ErrorKind::unauthenticated);
  // A password that is not UTF-8 is refused by its form; one with a NUL just never matches.
  CHECK(error_of(w.login("ann", false, "correct\xff horse")).code == "invalid_password");
  CHECK(error_of(w.login("ann", false, std::string("correct horse\0", 14))).code ==
        "invalid_credentials");
  CHECK(error_of(w.login("ann", false, std::string("correct horse\0x", 15))).code ==
        "invalid_credentials");
  value_of(w.login("ann", false));
}

TEST_CASE("a derivation whose client has gone is not run", "[pg][limits][hash_pool]") {
  auth::HashPool hashes(1, 8);
  net::io_context io;
  const std::vector<unsigned char> salt = {1, 2, 3, 4, 5, 6, 7, 8};
  auto derive = [&](std::string password, bool gone) {
    return net::co_spawn(io, derive_for(hashes, salt, std::move(password), gone), net::use_future);
  };
  // Alone.
  auto alone = derive("left already", true);
  io.run();
  CHECK_THROWS_AS(alone.get(), auth::ClientGone);
  CHECK(hashes.started() == 0);
  CHECK(hashes.abandoned() == 1);

  // Queued behind a blocker, so the two would run paired: the one still wanted runs alone.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto blocker = [&hashes, released]() -> net::awaitable<int> {
    auto job = [released] {
      released.wait();
      return 1;
    };
    co_return co_await hashes.run(std::move(job));
  };
  io.restart();
  auto held = net::co_spawn(io, blocker(), net::use_future);
  auto gone = derive("gone too", true);
  auto wanted = derive("still here", false);
  std::thread runner([&io] { io.run(); });
  while (hashes.waiting() < 2) std::this_thread::sleep_for(1ms);
  release.set_value();
  runner.join();
  CHECK(held.get() == 1);
  CHECK_THROWS_AS(gone.get(), auth::ClientGone);
  std::vector<unsigned char> expected(32);
  auth::pbkdf2_reference("still here", salt, 2000, expected);
  CHECK(wanted.get() == expected);
  CHECK(hashes.abandoned() == 2);
  CHECK(hashes.started() == 2);  // the blocker and the one still wanted
}

TEST_CASE("a login or sign-up whose client has gone is not hashed and not counted",
          "[pg][limits]") {
  World w;
  value_of(w.signup("dee", "dee@example.com"));
  const auto hashed_before = w.hashes.started();
  const auto gone = [] { return true; };
  CHECK_THROWS_AS(w.login("dee", false, "a guess!", "192.0.2.1", gone), auth::ClientGone);
  CHECK_THROWS_AS(w.signup("eve", "eve@example.com", "192.0.2.1", gone), auth::ClientGone);
  CHECK(w.hashes.started() == hashed_before);
  CHECK(w.hashes.abandoned() == 2);
  CHECK(w.scalar("SELECT count(*) FROM users") == "1");
  // Given back: every window holds only what was really checked (dee's own sign-up).
  CHECK(w.scalar("SELECT string_agg(key || '=' || attempts, ',' ORDER BY key) FROM rate_limits") ==
        "login:ip:192.0.2.1=0,login:user:1=0,signup:ip:192.0.2.1=1");
}

TEST_CASE("a wrong password on a cheaper stored hash costs what an unknown user costs",
          "[pg][limits][timing]") {
  constexpr std::uint32_t kConfigured = 200'000;
  World w(options({1000, 900s}, {1000, 900s}, kConfigured));
  {
    pqxx::connection c(w.url);
    pqxx::nontransaction tx(c);
    tx.exec_params("INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3)",
                   std::string("cheap"), std::string("cheap@example.com"),
                   auth::hash_password("correct horse", 1000));
  }
  const auto time_of = [&](const std::string& identifier) {
    const auto started = std::chrono::steady_clock::now();
    CHECK(kind_of(w.login(identifier, false, "wrong horse")) == auth::ErrorKind::unauthenticated);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  std::vector<double> cheap, unknown;
  for (int i = 0; i < 7; ++i) {  // interleaved, so load on the machine hits both alike
    cheap.push_back(time_of("cheap"));
    unknown.push_back(time_of("nobody"));
  }
  std::sort(cheap.begin(), cheap.end());
  std::sort(unknown.begin(), unknown.end());
  const double ratio = cheap[3] / unknown[3];
  INFO("median cheap " << cheap[3] << " s, unknown " << unknown[3] << " s");
  CHECK(ratio > 0.5);
  // The right password still logs in, and the hash is upgraded to the configured cost.
  value_of(w.login("cheap", false));
  CHECK(w.scalar("SELECT password_hash FROM users").starts_with("$pbkdf2-sha256$i=200000$"));
}
