#include "audit/audit.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction_base>

#include "db/executor.hpp"
#include "db/statements.hpp"

namespace authd::audit {
namespace {

constexpr std::array<std::string_view, kTypes> kNames = {
    "signup",
    "login",
    "mfa",
    "logout",
    "logout_all",
    "password_changed",
    "recovery_requested",
    "recovery_completed",
    "email_verified",
    "email_changed",
    "totp_enabled",
    "totp_disabled",
    "recovery_code_used",
    "session_revoked",
    "admin_user_updated",
    "admin_user_deleted",
    "admin_logout_all",
    "admin_totp_removed",
    "backup_created",
    "backup_restored",
    "users_imported",
};

}  // namespace

std::string_view type_name(Type type) {
  return kNames[static_cast<std::size_t>(type)];
}

std::optional<Type> type_from_name(std::string_view name) {
  const auto found = std::find(kNames.begin(), kNames.end(), name);
  if (found == kNames.end()) return std::nullopt;
  return static_cast<Type>(found - kNames.begin());
}

std::string events_json(const std::vector<Event>& events) {
  boost::json::array out;
  out.reserve(events.size());
  for (const Event& e : events) {
    boost::json::object row;
    row["at_us"] = e.at_us;
    row["type"] = type_name(e.type);
    if (e.user_id) row["user_id"] = *e.user_id;
    row["actor"] = e.actor;
    row["ip"] = e.origin.ip;
    row["user_agent"] = e.origin.user_agent;
    row["request_id"] = e.origin.request_id;
    row["detail"] = e.detail;
    out.push_back(std::move(row));
  }
  return boost::json::serialize(out);
}

void insert(pqxx::transaction_base& tx, const std::vector<Event>& events) {
  if (events.empty()) return;
  // By its text: this may be any connection (the command line's too), prepared or not.
  tx.exec_params(std::string(db::sql::kAuditInsert.text), events_json(events));
}

std::array<std::uint64_t, kTypes> Counts::snapshot() const {
  std::array<std::uint64_t, kTypes> out{};
  for (std::size_t i = 0; i < kTypes; ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

void Trail::record(Event event) {
  counts_.add(event.type);
  std::lock_guard lock(mutex_);
  if (waiting_.size() >= kMaxWaiting) {
    dropped_.fetch_add(1);
    return;
  }
  waiting_.push_back(std::move(event));
}

std::size_t Trail::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

std::vector<Event> Trail::take(std::size_t most) {
  std::lock_guard lock(mutex_);
  const std::size_t n = std::min(most, waiting_.size());
  std::vector<Event> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return out;
}

void Trail::put_back(std::vector<Event> events) {
  std::lock_guard lock(mutex_);
  for (auto it = events.rbegin(); it != events.rend(); ++it) waiting_.push_front(std::move(*it));
}

net::awaitable<void> Trail::flush() {
  for (;;) {
    std::vector<Event> batch = take(kBatch);
    if (batch.empty()) co_return;
    auto json = std::make_shared<const std::string>(events_json(batch));
    auto write = [json](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec_prepared(std::string(db::sql::kAuditInsert.name), *json);
    };
    std::exception_ptr failure;
    try {
      co_await db_.run(std::move(write));
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // Kept for the next round: PostgreSQL may be back by then.
      put_back(std::move(batch));
      std::rethrow_exception(failure);
    }
  }
}

net::awaitable<void> Trail::run(const std::atomic<bool>& stopping) {
  net::steady_timer timer(co_await net::this_coro::executor);
  for (;;) {
    const bool last = stopping.load();
    try {
      co_await flush();
    } catch (const std::exception&) {
      // The database may be down; the events wait for the next round.
    }
    if (last) co_return;
    timer.expires_after(std::chrono::milliseconds(250));
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return;
  }
}

net::awaitable<void> Trail::purge(std::chrono::seconds retention,
                                  const std::atomic<bool>& stopping) {
  static constexpr std::int64_t kBatch = 5000;
  const auto seconds = static_cast<std::int64_t>(retention.count());
  for (;;) {
    auto remove = [seconds](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      return static_cast<std::int64_t>(
          tx.exec_prepared(std::string(db::sql::kPurgeAudit.name), seconds, kBatch)
              .affected_rows());
    };
    const std::int64_t removed = co_await db_.run(std::move(remove));
    if (removed < kBatch || stopping.load()) co_return;
  }
}

void Trail::flush_blocking(pqxx::connection& connection) {
  for (;;) {
    std::vector<Event> batch = take(kBatch);
    if (batch.empty()) return;
    pqxx::nontransaction tx(connection);
    tx.exec_prepared(std::string(db::sql::kAuditInsert.name), events_json(batch));
  }
}

}  // namespace authd::audit
