#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "auth/accounts.hpp"
#include "auth/hash_pool.hpp"
#include "auth/password.hpp"
#include "auth/pbkdf2.hpp"
#include "auth/session_token.hpp"
#include "db/executor.hpp"
#include "db/statements.hpp"
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
                              std::chrono::seconds ttl = 3600s,
                              std::uint32_t iterations = kIterations) {
  return {iterations, ttl, account, address};
}

// Runs one coroutine to its end on io; exceptions come out of get() here, on the test's thread.
template <class T>
T await(net::io_context& io, net::awaitable<T> coroutine) {
  return test::run_one(io, std::move(coroutine));
}

template <class T>
T await(net::awaitable<T> coroutine) {
  net::io_context io;
  return await(io, std::move(coroutine));
}

struct World {
  explicit World(auth::AccountsOptions accounts_options = options(), std::size_t hash_threads = 2,
                 std::size_t hash_queue = 64)
      : url(test::fresh_database_url()),
        pool({url, 4}),
        db(pool, 4, 256),
        requests({url, 2}),
        hashes(hash_threads, hash_queue),
        accounts(db, requests, hashes, accounts_options) {}

  template <class T>
  T await(net::awaitable<T> coroutine) {
    return ::await(io, std::move(coroutine));
  }

  auth::Result<auth::User> signup(std::string username, std::string email,
                                  std::string password = "correct horse") {
    return await(accounts.signup({std::move(username), std::move(email), std::move(password)}));
  }

  auth::Result<auth::LoginResult> login(std::string identifier, bool by_email,
                                        std::string password = "correct horse",
                                        std::string address = "192.0.2.1") {
    return await(
        accounts.login({std::move(identifier), by_email, std::move(password), std::move(address)}));
  }

  std::optional<auth::Session> authenticate(const std::string& token) {
    return await(accounts.authenticate(token));
  }

  std::string scalar(const std::string& query) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec(query)[0][0].as<std::string>();
  }

  // Declared first, so destroyed last: a DB thread may still be letting go of a finished call
  // (its timer belongs to this context) after run() has returned.
  net::io_context io;
  std::string url;
  db::ConnectionPool pool;
  db::DbExecutor db;
  db::AsyncDb requests;
  auth::HashPool hashes;
  auth::Accounts accounts;
};

bool is_rfc3339_utc(const std::string& text) {
  return text.size() == 20 && text[4] == '-' && text[7] == '-' && text[10] == 'T' &&
         text[13] == ':' && text[16] == ':' && text[19] == 'Z';
}

}  // namespace

TEST_CASE("session tokens are 43 base64url characters keyed by a SHA-256 hex", "[pg][accounts]") {
  const std::string token = auth::new_session_token();
  CHECK(token.size() == 43);
  CHECK(
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
      std::string::npos);
  CHECK(auth::new_session_token() != token);
  const auto hex = auth::token_hash_hex(token);
  REQUIRE(hex);
  CHECK(hex->size() == 64);
  CHECK(hex->find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(auth::token_hash_hex(token) == hex);
  // SHA-256 of 32 zero bytes.
  CHECK(auth::token_hash_hex(std::string(43, 'A')) ==
        "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
  CHECK_FALSE(auth::token_hash_hex(token.substr(0, 42)));
  CHECK_FALSE(auth::token_hash_hex(token + "A"));
  CHECK_FALSE(auth::token_hash_hex(std::string(42, 'A') + "="));
  CHECK_FALSE(auth::token_hash_hex(std::string(42, 'A') + "+"));
  // Unused trailing bits set: another spelling of some token, refused.
  CHECK_FALSE(auth::token_hash_hex(std::string(42, 'A') + "B"));
  CHECK_FALSE(auth::token_hash_hex(""));
}

TEST_CASE("signup creates a user, taken names and emails are 409 case-insensitively",
          "[pg][accounts]") {
  World w;
  const auto created = w.signup("Alice", "Alice@Example.com");
  const auto& user = value_of(created);
  CHECK(user.id > 0);
  CHECK(user.username == "Alice");
  CHECK(user.email == "Alice@Example.com");
  CHECK(user.role == "user");
  CHECK(is_rfc3339_utc(user.created_at));
  CHECK(w.scalar("SELECT password_hash FROM users").starts_with("$pbkdf2-sha256$i=1000$"));

  const auto same_name = w.signup("aLICE", "other@example.com");
  CHECK(error_of(same_name).kind == auth::ErrorKind::conflict);
  CHECK(error_of(same_name).code == "username_taken");
  const auto same_email = w.signup("bob", "alice@EXAMPLE.COM");
  CHECK(error_of(same_email).kind == auth::ErrorKind::conflict);
  CHECK(error_of(same_email).code == "email_taken");
  // Both clash: the username is named.
  CHECK(error_of(w.signup("ALICE", "ALICE@example.com")).code == "username_taken");
  CHECK(w.scalar("SELECT count(*) FROM users") == "1");
}

TEST_CASE("signup validates every field before hashing", "[pg][accounts]") {
  World w;
  CHECK(error_of(w.signup("al", "a@example.com")).code == "invalid_username");
  CHECK(error_of(w.signup("al ice", "a@example.com")).code == "invalid_username");
  CHECK(error_of(w.signup("alice", "a@example")).code == "invalid_email");
  CHECK(error_of(w.signup("alice", "a@b@example.com")).code == "invalid_email");
  CHECK(error_of(w.signup("alice", "a@example.com", "short")).code == "invalid_password");
  CHECK(error_of(w.signup("alice", "a@example.com", std::string(1025, 'x'))).code ==
        "invalid_password");
  CHECK(error_of(w.signup("alice", "a@example.com", "tab\there!")).kind ==
        auth::ErrorKind::invalid);
  // Eight characters of two bytes each are eight characters.
  value_of(w.signup("alice", "a@example.com",
                    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
  CHECK(w.scalar("SELECT count(*) FROM users") == "1");
}

TEST_CASE("two identical signups at once give one user and one 409", "[pg][accounts]") {
  World w;
  for (int round = 0; round < 5; ++round) {
    const std::string name = "racer" + std::to_string(round);
    w.io.restart();
    auto a = net::co_spawn(w.io, w.accounts.signup({name, name + "@example.com", "password1"}),
                           net::use_future);
    auto b = net::co_spawn(w.io, w.accounts.signup({name, name + "@example.com", "password1"}),
                           net::use_future);
    w.io.run();
    const auto first = a.get();
    const auto second = b.get();
    const int users =
        std::holds_alternative<auth::User>(first) + std::holds_alternative<auth::User>(second);
    CHECK(users == 1);
    const auto& refused = std::holds_alternative<auth::Error>(first) ? first : second;
    CHECK(error_of(refused).kind == auth::ErrorKind::conflict);
  }
  CHECK(w.scalar("SELECT count(*) FROM users") == "5");
}

TEST_CASE("login by email or username, case-insensitively, gives a new session each time",
          "[pg][accounts]") {
  World w;
  const auto user = value_of(w.signup("Carol", "Carol@Example.com"));

  const auto by_email = w.login("carol@example.COM", true);
  const auto& first = value_of(by_email);
  CHECK(first.user.id == user.id);
  CHECK(first.user.email == "Carol@Example.com");
  CHECK(first.token.size() == 43);
  CHECK(is_rfc3339_utc(first.expires_at));

  const auto by_name = w.login("CAROL", false);
  const auto& second = value_of(by_name);
  CHECK(second.user.id == user.id);
  CHECK(second.token != first.token);

  // A username is not an email and the other way round.
  CHECK(error_of(w.login("carol", true)).code == "invalid_credentials");
  CHECK(error_of(w.login("carol@example.com", false)).code == "invalid_credentials");

  CHECK(w.scalar("SELECT count(*) FROM sessions") == "2");
  // Only the token's hash is stored.
  CHECK(w.scalar("SELECT encode(token_hash, 'hex') FROM sessions ORDER BY created_at, token_hash "
                 "LIMIT 1")
            .size() == 64);
  CHECK(w.accounts.counters().ok == 2);
  CHECK(w.accounts.counters().sessions_created == 2);
}

TEST_CASE("a wrong password and an unknown user are the same 401", "[pg][accounts]") {
  World w;
  const auto dave = value_of(w.signup("dave", "dave@example.com"));
  const auto wrong = w.login("dave@example.com", true, "not the password");
  const auto unknown = w.login("nobody@example.com", true);
  CHECK(error_of(wrong).kind == auth::ErrorKind::unauthenticated);
  CHECK(error_of(wrong).code == "invalid_credentials");
  CHECK(error_of(unknown).kind == auth::ErrorKind::unauthenticated);
  CHECK(error_of(unknown).code == "invalid_credentials");
  CHECK(error_of(wrong).detail == error_of(unknown).detail);
  CHECK(w.accounts.counters().bad_credentials == 2);
  // Both count against their account, existing (by id) or not (by the identifier as sent).
  CHECK(w.scalar("SELECT string_agg(key || '=' || attempts, ',' ORDER BY key) FROM "
                 "rate_limits WHERE key LIKE 'login:%'") ==
        "login:ip:192.0.2.1=2,login:name:nobody@example.com=1,login:user:" +
            std::to_string(dave.id) + "=1");
}

TEST_CASE("a user whose stored hash is unreadable cannot log in", "[pg][accounts]") {
  World w;
  value_of(w.signup("erin", "erin@example.com"));
  w.scalar("UPDATE users SET password_hash = 'plain text' RETURNING 1");
  CHECK(error_of(w.login("erin", false)).code == "invalid_credentials");
}

TEST_CASE("after the account's limit, every attempt is 429 until the window passes",
          "[pg][accounts]") {
  World w(options({3, 900s}, {100, 900s}));
  value_of(w.signup("frank", "frank@example.com"));

  // A success clears the account's failures.
  CHECK(error_of(w.login("frank", false, "wrong password")).kind ==
        auth::ErrorKind::unauthenticated);
  CHECK(error_of(w.login("frank", false, "wrong password")).kind ==
        auth::ErrorKind::unauthenticated);
  value_of(w.login("frank", false));

  for (int i = 0; i < 3; ++i)
    CHECK(error_of(w.login("Frank", false, "wrong password")).kind ==
          auth::ErrorKind::unauthenticated);
  const auto right = w.login("frank", false);
  CHECK(error_of(right).kind == auth::ErrorKind::limited);
  CHECK(error_of(right).code == "too_many_attempts");
  CHECK(error_of(right).retry_after > 0);
  CHECK(error_of(right).retry_after <= 900);
  CHECK(error_of(w.login("frank", false, "wrong password")).kind == auth::ErrorKind::limited);
  // The limit is per account, from any address and by username or email alike.
  CHECK(error_of(w.login("frank", false, "correct horse", "198.51.100.7")).kind ==
        auth::ErrorKind::limited);
  CHECK(error_of(w.login("frank@example.com", true)).kind == auth::ErrorKind::limited);
  CHECK(w.accounts.counters().limited == 4);

  // Once the window has passed, the account may try again.
  w.scalar("UPDATE rate_limits SET window_start = now() - interval '16 minutes' RETURNING 1");
  value_of(w.login("frank", false));
}

TEST_CASE("with 10/15m the 11th attempt is refused", "[pg][accounts]") {
  World w;
  value_of(w.signup("grace", "grace@example.com"));
  for (int i = 0; i < 10; ++i)
    CHECK(error_of(w.login("grace", false, "wrong password")).kind ==
          auth::ErrorKind::unauthenticated);
  CHECK(error_of(w.login("grace", false)).kind == auth::ErrorKind::limited);
}

TEST_CASE("after the address's limit, every account is refused from that address",
          "[pg][accounts]") {
  World w(options({100, 900s}, {3, 600s}));
  value_of(w.signup("heidi", "heidi@example.com"));
  for (int i = 0; i < 3; ++i) {
    const auto attempt = w.login("nobody" + std::to_string(i) + "@example.com", true,
                                 "correct horse", "203.0.113.9");
    CHECK(error_of(attempt).kind == auth::ErrorKind::unauthenticated);
  }
  const auto refused = w.login("heidi@example.com", true, "correct horse", "203.0.113.9");
  CHECK(error_of(refused).kind == auth::ErrorKind::limited);
  CHECK(error_of(refused).retry_after > 0);
  CHECK(error_of(refused).retry_after <= 600);
  value_of(w.login("heidi@example.com", true, "correct horse", "203.0.113.10"));
}

TEST_CASE("a hash cheaper than configured is upgraded at login", "[pg][accounts]") {
  World w(options({10, 900s}, {100, 900s}, 3600s, 2000));
  value_of(auth::Accounts::create_user(w.pool, {"ivan", "ivan@example.com", "correct horse"}, false,
                                       1000, "cli"));
  CHECK(w.scalar("SELECT password_hash FROM users").starts_with("$pbkdf2-sha256$i=1000$"));
  value_of(w.login("ivan", false));
  const std::string upgraded = w.scalar("SELECT password_hash FROM users");
  CHECK(upgraded.starts_with("$pbkdf2-sha256$i=2000$"));
  const auto parsed = auth::parse_phc(upgraded);
  REQUIRE(parsed);
  CHECK(auth::verify_password("correct horse", *parsed));
  value_of(w.login("ivan@example.com", true));
  CHECK(w.scalar("SELECT password_hash FROM users") == upgraded);
}

TEST_CASE("the command-line helpers create users and grant admin", "[pg][accounts]") {
  World w;
  const auto admin = auth::Accounts::create_user(
      w.pool, {"root", "root@example.com", "correct horse"}, true, kIterations, "cli");
  CHECK(value_of(admin).role == "admin");
  // The creation is in the audit trail, written with the user; a refused one writes nothing.
  CHECK(w.scalar(
            "SELECT actor || ' ' || (detail->>'role') FROM audit_events WHERE type = 'signup'") ==
        "cli admin");
  const auto clash = auth::Accounts::create_user(w.pool, {"ROOT", "x@example.com", "correct horse"},
                                                 false, 1000, "cli");
  CHECK(error_of(clash).code == "username_taken");
  CHECK(error_of(auth::Accounts::create_user(w.pool, {"r", "x@example.com", "correct horse"}, false,
                                             kIterations, "cli"))
            .code == "invalid_username");
  CHECK(w.scalar("SELECT count(*) FROM audit_events WHERE type = 'signup'") == "1");
  value_of(w.signup("judy", "Judy@example.com"));
  CHECK(auth::Accounts::grant_admin(w.pool, "judy@EXAMPLE.com"));
  CHECK_FALSE(auth::Accounts::grant_admin(w.pool, "nobody@example.com"));
  CHECK(value_of(w.login("judy", false)).user.role == "admin");
}

TEST_CASE("sessions: authenticate, logout, change password, logout everywhere", "[pg][accounts]") {
  World w;
  const auto user = value_of(w.signup("mallory", "mallory@example.com"));
  const auto one = value_of(w.login("mallory", false));
  const auto two = value_of(w.login("mallory", false));
  const auto three = value_of(w.login("mallory", false));

  const auto session = w.authenticate(one.token);
  REQUIRE(session);
  CHECK(session->user.id == user.id);
  CHECK(session->user.username == "mallory");
  CHECK(session->expires_at == one.expires_at);
  CHECK(session->token_hash_hex == *auth::token_hash_hex(one.token));
  CHECK_FALSE(w.authenticate("not a token"));
  CHECK_FALSE(w.authenticate(auth::new_session_token()));

  CHECK(w.await(w.accounts.logout(three.token)).has_value());
  CHECK_FALSE(w.authenticate(three.token));
  CHECK_FALSE(w.await(w.accounts.logout(three.token)).has_value());
  CHECK_FALSE(w.await(w.accounts.logout("garbage")).has_value());

  const auto wrong =
      w.await(w.accounts.change_password(*session, "wrong password", "new password"));
  CHECK(error_of(wrong).kind == auth::ErrorKind::unauthenticated);
  CHECK(error_of(wrong).code == "invalid_credentials");
  const auto weak = w.await(w.accounts.change_password(*session, "correct horse", "short"));
  CHECK(error_of(weak).kind == auth::ErrorKind::invalid);
  CHECK(error_of(weak).code == "invalid_password");
  CHECK(w.authenticate(two.token));

  const auto changed =
      w.await(w.accounts.change_password(*session, "correct horse", "new password"));
  CHECK(std::holds_alternative<std::monostate>(changed));
  CHECK(w.authenticate(one.token));
  CHECK_FALSE(w.authenticate(two.token));
  CHECK(error_of(w.login("mallory", false)).code == "invalid_credentials");
  const auto four = value_of(w.login("mallory", false, "new password"));

  w.await(w.accounts.logout_all(user.id));
  CHECK_FALSE(w.authenticate(one.token));
  CHECK_FALSE(w.authenticate(four.token));
  CHECK(w.scalar("SELECT count(*) FROM sessions") == "0");
}

TEST_CASE("an expired session is refused and purged", "[pg][accounts]") {
  World w(options({10, 900s}, {100, 900s}, 1s));
  value_of(w.signup("niaj", "niaj@example.com"));
  const auto login = value_of(w.login("niaj", false));
  CHECK(w.authenticate(login.token));
  std::this_thread::sleep_for(2s);
  CHECK_FALSE(w.authenticate(login.token));
  CHECK(error_of(w.login("niaj", false, "wrong password")).kind ==
        auth::ErrorKind::unauthenticated);
  w.scalar("UPDATE rate_limits SET window_start = now() - interval '1 hour' RETURNING 1");
  w.await(w.accounts.purge_expired());
  CHECK(w.scalar("SELECT count(*) FROM sessions") == "0");
  CHECK(w.scalar("SELECT count(*) FROM rate_limits") == "0");
}

TEST_CASE("a full hash queue refuses at once with Overloaded", "[pg][accounts][hash_pool]") {
  auth::HashPool hashes(1, 1);
  net::io_context io;
  std::vector<std::future<std::string>> results;
  for (int i = 0; i < 3; ++i) {
    auto job = [] { return auth::hash_password("correct horse", 1'000'000); };
    results.push_back(net::co_spawn(io, hashes.run(std::move(job)), net::use_future));
  }
  io.run();
  int overloaded = 0;
  int hashed = 0;
  for (auto& result : results) {
    std::string hash;
    try {
      hash = result.get();
    } catch (const auth::Overloaded&) {
      ++overloaded;
      continue;
    }
    CHECK(hash.starts_with("$pbkdf2-sha256$i=1000000$"));
    ++hashed;
  }
  CHECK(hashed == 2);
  CHECK(overloaded == 1);
  CHECK(hashes.running() == 0);
  CHECK(hashes.waiting() == 0);
}

TEST_CASE("a hash pool passes exceptions back and refuses work once stopped",
          "[pg][accounts][hash_pool]") {
  auth::HashPool hashes(2, 0);
  auto failing = [&hashes]() -> net::awaitable<int> {
    auto job = []() -> int { throw std::invalid_argument("no"); };
    co_return co_await hashes.run(std::move(job));
  };
  CHECK_THROWS_AS(await(failing()), std::invalid_argument);
  auto ok = [&hashes]() -> net::awaitable<int> {
    auto job = [] { return 7; };
    co_return co_await hashes.run(std::move(job));
  };
  CHECK(await(ok()) == 7);
  hashes.stop();
  CHECK_THROWS_AS(await(ok()), auth::Overloaded);
}

TEST_CASE("hash threads run at the niceness asked for", "[pg][accounts][hash_pool]") {
  const int own = ::getpriority(PRIO_PROCESS, 0);
  auth::HashPool hashes(1, 0, 7);
  auto niceness = [&hashes]() -> net::awaitable<int> {
    auto job = [] { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())); };
    co_return co_await hashes.run(std::move(job));
  };
  // Lowering one's niceness needs privileges; raising it never does.
  CHECK(await(niceness()) == std::max(own, 7));
  CHECK(::getpriority(PRIO_PROCESS, 0) == own);
}

TEST_CASE("hash jobs that take a pacer give way while requests arrive, and still finish",
          "[pg][accounts][hash_pool]") {
  auth::HashPool hashes(1, 0);
  using Micros = std::chrono::microseconds;
  // 20 pacing points with no request in between, then 20 with one before each.
  auto paced = [&hashes]() -> net::awaitable<std::array<std::int64_t, 3>> {
    auto job = [&hashes](const auth::Pacer& pacer) {
      std::int64_t kept_going = 0;
      const auto timed = [&](bool with_requests) {
        const auto started = std::chrono::steady_clock::now();
        for (int i = 0; i < 20; ++i) {
          if (with_requests) hashes.note_activity();
          if (pacer.give_way()) ++kept_going;
        }
        return std::chrono::duration_cast<Micros>(std::chrono::steady_clock::now() - started)
            .count();
      };
      const auto quiet = timed(false);
      const auto busy = timed(true);
      return std::array<std::int64_t, 3>{quiet, busy, kept_going};
    };
    co_return co_await hashes.run(std::move(job));
  };
  const auto [quiet, busy, kept_going] = await(paced());
  CHECK(kept_going == 40);
  CHECK(quiet < 20 * auth::HashPool::kGiveWay.count());
  CHECK(busy >= 20 * auth::HashPool::kGiveWay.count());
}

TEST_CASE("stopping a hash pool finishes the running job and refuses the queued ones",
          "[pg][accounts][hash_pool]") {
  auth::HashPool hashes(1, 3);
  net::io_context io;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> started{false};
  auto running = [released, &started] {
    started = true;
    released.wait();
    return 1;
  };
  std::vector<std::future<int>> results;
  results.push_back(net::co_spawn(io, hashes.run(std::move(running)), net::use_future));
  for (int i = 0; i < 3; ++i) {
    auto queued = [] { return 2; };
    results.push_back(net::co_spawn(io, hashes.run(std::move(queued)), net::use_future));
  }
  auto work = net::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread stopper([&hashes] { hashes.stop(); });
  // The queued jobs are refused while the running one still holds its thread.
  for (std::size_t i = 1; i < results.size(); ++i) {
    CHECK_THROWS_AS(results[i].get(), auth::Overloaded);
  }
  release.set_value();
  CHECK(results[0].get() == 1);
  stopper.join();
  work.reset();
  runner.join();
}

TEST_CASE("logins past the hash queue are counted as overloaded", "[pg][accounts][hash_pool]") {
  World w(options(), 1, 1);
  net::io_context& io = w.io;
  // Holds the only hash thread until both logins have asked for it: one waits, one is refused.
  std::promise<void> release;
  auto released = release.get_future().share();
  auto blocker = [released] {
    released.wait();
    return 0;
  };
  auto blocked = net::co_spawn(io, w.hashes.run(std::move(blocker)), net::use_future);
  std::vector<std::future<auth::Result<auth::LoginResult>>> results;
  for (int i = 0; i < 2; ++i) {
    results.push_back(net::co_spawn(io,
                                    w.accounts.login({"ghost" + std::to_string(i) + "@example.com",
                                                      true, "correct horse", "192.0.2.1"}),
                                    net::use_future));
  }
  std::thread runner([&io] { io.run(); });
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (w.accounts.counters().overloaded == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(w.hashes.waiting() == 1);
  release.set_value();
  runner.join();

  CHECK(blocked.get() == 0);
  int overloaded = 0;
  for (auto& result : results) {
    std::optional<auth::Result<auth::LoginResult>> outcome;
    try {
      outcome = result.get();
    } catch (const auth::Overloaded&) {
      ++overloaded;
      continue;
    }
    CHECK(error_of(*outcome).code == "invalid_credentials");
  }
  CHECK(overloaded == 1);
  CHECK(w.accounts.counters().overloaded == 1);
  CHECK(w.accounts.counters().bad_credentials == 1);
}

TEST_CASE("a new session commits without waiting for the WAL flush unless sessions are durable",
          "[pg][accounts]") {
  World w;
  const auto user = value_of(w.signup("Dora", "dora@example.com"));
  pqxx::connection c(w.url);
  db::prepare_statements(c);
  // synchronous_commit as the session statement leaves it for the rest of its transaction,
  // that is for its commit.
  auto commit_mode = [&](bool durable, char fill) {
    pqxx::work tx(c);
    tx.exec_params(std::string(db::sql::kInsertSession.text), std::string(64, fill), user.id,
                   std::int64_t{60}, durable, "aal1", "", "", "[]");
    std::string mode = tx.exec("SHOW synchronous_commit")[0][0].as<std::string>();
    tx.commit();
    return mode;
  };
  CHECK(commit_mode(false, 'a') == "off");
  CHECK(commit_mode(true, 'b') == "on");
  // Only that transaction: the connection's own setting is untouched.
  {
    pqxx::nontransaction tx(c);
    CHECK(tx.exec("SHOW synchronous_commit")[0][0].as<std::string>() == "on");
  }
  {
    pqxx::nontransaction tx(c);
    CHECK(tx.exec_params("SELECT count(*) FROM sessions WHERE user_id = $1", user.id)[0][0]
              .as<std::string>() == "2");
  }

  // Both ways, a login makes a session that authenticates.
  for (const bool durable : {false, true}) {
    auto o = options();
    o.durable_sessions = durable;
    World v(o);
    value_of(v.signup("erin", "erin@example.com"));
    const auto login = v.login("erin", false);
    const auto session = v.authenticate(value_of(login).token);
    REQUIRE(session);
    CHECK(session->user.username == "erin");
  }
}

TEST_CASE("derivations waiting together run two to a thread, each with its own key",
          "[pg][accounts][hash_pool]") {
  auth::HashPool hashes(1, 8);
  net::io_context io;
  // A job that holds the only thread until released, so the derivations queue up behind it.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto blocker = [&hashes, released]() -> net::awaitable<int> {
    auto job = [released] {
      released.wait();
      return 1;
    };
    co_return co_await hashes.run(std::move(job));
  };
  const std::vector<unsigned char> salt = {1, 2, 3, 4, 5, 6, 7, 8};
  auto derive = [&hashes,
                 &salt](std::string password) -> net::awaitable<std::vector<unsigned char>> {
    co_return co_await hashes.derive(std::move(password), salt, 2000, 32);
  };
  auto held = net::co_spawn(io, blocker(), net::use_future);
  auto first = net::co_spawn(io, derive("first password"), net::use_future);
  auto second = net::co_spawn(io, derive("second password"), net::use_future);
  std::thread runner([&io] { io.run(); });
  while (hashes.waiting() < 2) std::this_thread::sleep_for(1ms);
  release.set_value();
  runner.join();
  CHECK(held.get() == 1);
  std::vector<unsigned char> expected(32);
  auth::pbkdf2_reference("first password", salt, 2000, expected);
  CHECK(first.get() == expected);
  auth::pbkdf2_reference("second password", salt, 2000, expected);
  CHECK(second.get() == expected);
  CHECK(hashes.paired() == (auth::pbkdf2_pairs_run_faster() ? 2u : 0u));
}
