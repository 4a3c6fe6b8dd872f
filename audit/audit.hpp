#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <pqxx/connection>
#include <pqxx/transaction_base>

namespace authd::db {
class DbExecutor;
}

// The audit trail: who did what, when, from where. An event names its user, its actor and the
// request it came with, and carries a small detail object; it never carries a password, token,
// code or hash (the types below are the only ones there are, and each call site builds its
// detail from identifiers alone).
namespace authd::audit {

namespace net = boost::asio;

enum class Type : std::uint8_t {
  signup,
  login,  // detail.outcome: ok, failed, limited, second_factor (a challenge was sent)
  mfa,    // detail.outcome: ok, failed
  logout,
  logout_all,
  password_changed,
  recovery_requested,
  recovery_completed,
  email_verified,
  email_changed,
  totp_enabled,
  totp_disabled,
  recovery_code_used,
  session_revoked,
  admin_user_updated,
  admin_user_deleted,
  admin_logout_all,
  admin_totp_removed,
  backup_created,
  backup_restored,
  users_imported,
};
inline constexpr std::size_t kTypes = static_cast<std::size_t>(Type::users_imported) + 1;

std::string_view type_name(Type type);
// The type of a name as the admin query takes it; nullopt for anything else.
std::optional<Type> type_from_name(std::string_view name);

// Where a request came from, as the handlers know it.
struct Origin {
  std::string ip, user_agent, request_id;
};

struct Event {
  Type type;
  std::optional<std::int64_t> user_id;
  std::string actor;  // "self", "admin:<id>", "admin_token", "cli"
  Origin origin;
  boost::json::object detail;
  // When it happened (not when it was written), microseconds since the epoch.
  std::int64_t at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
};

// Events as the one insert statement takes them: a JSON array.
std::string events_json(const std::vector<Event>& events);

// Writes events inside the caller's transaction: they commit or roll back with the change.
void insert(pqxx::transaction_base& tx, const std::vector<Event>& events);

// Events by type since start, for /metrics.
class Counts {
 public:
  void add(Type type) { counts_[static_cast<std::size_t>(type)].fetch_add(1); }
  std::array<std::uint64_t, kTypes> snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, kTypes> counts_{};
};

// The batched writer, for events whose change was not made in a transaction of authd's own
// code (a login's session, a failed login, which changes nothing but a counter): events wait in
// memory and are written together, one statement per batch, so a flood of wrong passwords costs
// one commit per batch instead of one per attempt. At most kMaxWaiting events wait; past that
// (PostgreSQL unreachable for long) new ones are counted as dropped rather than kept without
// bound.
class Trail {
 public:
  static constexpr std::size_t kMaxWaiting = 100'000;
  static constexpr std::size_t kBatch = 1000;

  explicit Trail(db::DbExecutor& db) : db_(db) {}
  Trail(const Trail&) = delete;
  Trail& operator=(const Trail&) = delete;

  // Queues an event (never blocks on PostgreSQL).
  void record(Event event);
  // Counts an event written in its change's transaction.
  void written(Type type) { counts_.add(type); }

  // Writes what waits, batch by batch, until nothing does or a write fails (then what was taken
  // goes back to the front of the queue and the error propagates).
  net::awaitable<void> flush();
  // Flushes every quarter second until stopping() is true, then once more.
  net::awaitable<void> run(const std::atomic<bool>& stopping);
  // The last flush, on the calling thread, at shutdown.
  void flush_blocking(pqxx::connection& connection);

  // Retention: removes events older than this, a batch per statement (so no statement holds
  // locks or WAL for long), until none is left or stopping() is true.
  net::awaitable<void> purge(std::chrono::seconds retention, const std::atomic<bool>& stopping);

  const Counts& counts() const { return counts_; }
  std::uint64_t dropped() const { return dropped_.load(); }
  std::size_t waiting() const;

 private:
  std::vector<Event> take(std::size_t most);
  void put_back(std::vector<Event> events);

  db::DbExecutor& db_;
  mutable std::mutex mutex_;
  std::deque<Event> waiting_;
  Counts counts_;
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace authd::audit
