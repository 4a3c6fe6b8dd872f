#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "auth/coalesce.hpp"
#include "db/async_db.hpp"

namespace authd::auth {

namespace net = boost::asio;

// count attempts allowed per window, a fixed window that starts at the first attempt.
struct RateLimit {
  std::uint32_t count = 0;
  std::chrono::seconds window{0};
};

// One thing being limited: key names it (callers prefix it with what they limit, "login:",
// "signup:"), limit says how much of it a window allows.
struct LimitKey {
  std::string key;
  RateLimit limit;
};

// One key's window right after an attempt was counted in it.
struct LimitCount {
  std::string key;
  std::int64_t attempts = 0;         // this one included
  std::int64_t window_start_us = 0;  // identifies the window, so a refund never hits the next one
  std::int64_t retry_after = 0;      // seconds until the window ends, at least 1
  bool over = false;                 // attempts > limit.count: this attempt must be refused
};

// What Limiter::count found for every key of one attempt.
struct Tally {
  std::vector<LimitCount> counts;
  bool over() const;
  // The longest wait among the keys that are over (0 when none is).
  std::int64_t retry_after() const;
};

// The one rate limiter: counts first, atomically, then the caller decides. An attempt is
// counted in every key's window in one statement (INSERT ... ON CONFLICT DO UPDATE ...
// RETURNING), before any work it limits is done, so simultaneous attempts cannot all slip under
// the limit. The windows live in PostgreSQL, shared by every instance. An attempt that ends
// without a verdict (refused because a key is over, a full hash queue, a vanished client) is
// given back, so a window holds only attempts that were (or are being) carried out; a key that
// is over stays at its limit until its window ends. A success may clear a key or give its
// attempt back (a proven password clears its account's failures and refunds its address).
// Identical counts (or settles) that arrive while one runs are carried out together, one
// statement counting n attempts: a flood of logins for one account from one address costs a
// few writes to its two rows instead of three per login.
class Limiter {
 public:
  explicit Limiter(db::AsyncDb& db) : db_(db) {}

  // Counts one attempt against each key (duplicates counted once). Throws like AsyncDb::exec.
  net::awaitable<Tally> count(std::vector<LimitKey> keys);

  // A login's count and lookup in one round trip (statement: kLoginCountBy*): the account key
  // is the user the identifier names, known only inside PostgreSQL. rows has one row per key:
  // key, attempts, window start (µs), retry after, then the user's columns and stored hash.
  struct LoginCount {
    Tally tally;
    std::shared_ptr<const db::Rows> rows;  // shared by the logins counted together
  };
  net::awaitable<LoginCount> count_login(const db::sql::Statement& statement,
                                         std::string identifier, RateLimit account,
                                         LimitKey address);

  // Removes the windows of the cleared keys and gives back the attempt counted in the other
  // keys of tally (only in the window it was counted in).
  net::awaitable<void> settle(const Tally& tally, std::vector<std::string> cleared = {});

  // Every count and settle goes through these, per event loop: identical ones that arrive
  // while one runs are done by one statement (the same keys in the same windows, so each
  // request's count is exactly what it would have been alone).
  struct Coalescers {
    Coalescer<db::Rows> count;
    Coalescer<db::Rows> login;
    Coalescer<bool> settle;
  };

 private:
  net::awaitable<Coalescers*> coalescers();

  db::AsyncDb& db_;
};

// The account part of a key: the user when the identifier names one (so an email, a username
// and the legacy route count together), else the identifier as sent, lower-cased, so the
// limit looks the same whether or not the account exists.
std::string account_key(std::optional<std::int64_t> user_id, std::string_view identifier);

// The client part of a key: an IPv4 address as itself (an IPv4-mapped IPv6 address too), an
// IPv6 address as its /64, since one client is given a whole /64. Text that is no address is
// kept as it is when it is clean UTF-8, else replaced by a fixed marker.
std::string address_key(std::string_view client_address);

// {"a","b"}: a PostgreSQL text[] literal. Throws std::invalid_argument for a NUL (libpq would
// cut the parameter there).
std::string text_array(const std::vector<std::string>& values);

}  // namespace authd::auth
