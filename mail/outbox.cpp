#include "mail/outbox.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "db/statements.hpp"

namespace authd::mail {

namespace {
constexpr int kBatch = 50;
constexpr std::chrono::milliseconds kPoll{250};
constexpr std::chrono::seconds kLongestPause{600};
std::string name(const db::sql::Statement& s) {
  return std::string(s.name);
}
}  // namespace

Outbox::Outbox(std::string database_url, SmtpSettings smtp)
    : database_url_(std::move(database_url)), smtp_(std::move(smtp)) {}

Outbox::~Outbox() {
  stop();
}

void Outbox::start() {
  thread_ = std::thread([this] {
    (void)::pthread_setname_np(::pthread_self(), "authd-mail");
    run();
  });
}

void Outbox::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Outbox::wake() {
  {
    const std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

OutboxStats Outbox::stats() const {
  return {waiting_.load(std::memory_order_relaxed), sent_.load(std::memory_order_relaxed),
          failed_.load(std::memory_order_relaxed)};
}

bool Outbox::round(std::unique_ptr<pqxx::connection>& connection) {
  // One connection for every round; after a failure the next round opens a fresh one, so a
  // restarted PostgreSQL is simply found again.
  if (!connection) {
    connection = std::make_unique<pqxx::connection>(database_url_);
    db::prepare_statements(*connection);
  }
  pqxx::connection& c = *connection;
  bool found = false;
  {
    pqxx::work tx(c);
    const pqxx::result claimed = tx.exec_prepared(name(db::sql::kClaimMail), kBatch);
    for (const auto& row : claimed) {
      found = true;
      const auto id = row[0].as<std::int64_t>();
      const auto recipient = row[2].as<std::string>();
      const auto message = row[3].is_null() ? std::string() : row[3].as<std::string>();
      const int attempts = row[4].as<int>();
      const std::optional<std::string> why = send(smtp_, recipient, message);
      if (!why) {
        tx.exec_prepared(name(db::sql::kMailSent), id);
        sent_.fetch_add(1, std::memory_order_relaxed);
      } else {
        const auto pause = std::min<std::int64_t>(std::int64_t{1} << std::min(attempts, 20),
                                                  kLongestPause.count());
        const bool gave_up =
            tx.exec_prepared1(name(db::sql::kMailRetry), id, pause, *why)[0].as<bool>();
        if (gave_up) failed_.fetch_add(1, std::memory_order_relaxed);
        // The server is likely down: the rest of this batch waits for the next round.
        break;
      }
    }
    tx.commit();
  }
  pqxx::nontransaction count(c);
  waiting_.store(count.exec_prepared1(name(db::sql::kOutboxStats))[0].as<std::uint64_t>(),
                 std::memory_order_relaxed);
  return found;
}

void Outbox::run() {
  std::unique_ptr<pqxx::connection> connection;
  bool busy = false;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (!busy) cv_.wait_for(lock, kPoll, [this] { return stopping_ || woken_; });
      if (stopping_) return;
      woken_ = false;
    }
    try {
      busy = round(connection);
    } catch (const std::exception&) {
      connection.reset();  // PostgreSQL away: the next poll connects again
      busy = false;
    }
  }
}

}  // namespace authd::mail
