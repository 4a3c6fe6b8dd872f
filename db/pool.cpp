#include "db/pool.hpp"

#include <pqxx/except>
#include <pqxx/nontransaction>

#include "db/conninfo.hpp"
#include "db/statements.hpp"

namespace authd::db {

Lease::Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> connection, bool fresh)
    : pool_(pool), connection_(std::move(connection)), fresh_(fresh) {}

Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      connection_(std::move(other.connection_)),
      fresh_(other.fresh_),
      broken_(other.broken_) {
  other.pool_ = nullptr;
}

Lease::~Lease() {
  if (pool_ != nullptr) pool_->give_back(std::move(connection_), broken_);
}

ConnectionPool::ConnectionPool(PoolOptions options) : options_(std::move(options)) {
  if (options_.size == 0) options_.size = 1;
}

ConnectionPool::~ConnectionPool() = default;

std::unique_ptr<pqxx::connection> ConnectionPool::open_connection() {
  try {
    auto connection = std::make_unique<pqxx::connection>(conninfo_with_defaults(options_.url));
    pqxx::nontransaction setup(*connection);
    setup.exec_params(std::string(sql::kSetStatementTimeout.text),
                      std::to_string(options_.statement_timeout.count()));
    setup.commit();
    prepare_statements(*connection);
    opened_total_.fetch_add(1, std::memory_order_relaxed);
    return connection;
  } catch (const pqxx::broken_connection& e) {
    throw DatabaseUnavailable("cannot connect to PostgreSQL");
  }
}

Lease ConnectionPool::acquire(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (idle_.empty() && leased_ >= options_.size) {
    ++waiting_;
    ++waited_total_;
    const bool got = available_.wait_until(
        lock, deadline, [this] { return !idle_.empty() || leased_ < options_.size; });
    --waiting_;
    if (!got) throw PoolExhausted("no database connection became free in time");
  }
  ++leased_;
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(connection), false);
  }
  // Opening a connection blocks (DNS, TCP, authentication): do it without the lock.
  const auto now = std::chrono::steady_clock::now();
  if (now < connect_failed_until_) {
    --leased_;
    available_.notify_one();
    throw DatabaseUnavailable("PostgreSQL is unreachable");
  }
  lock.unlock();
  try {
    return Lease(this, open_connection(), true);
  } catch (...) {
    lock.lock();
    --leased_;
    connect_failed_until_ = std::chrono::steady_clock::now() + options_.reconnect_backoff;
    lock.unlock();
    available_.notify_one();
    throw;
  }
}

void ConnectionPool::give_back(std::unique_ptr<pqxx::connection> connection, bool broken) {
  // A broken connection is closed here, on the DB thread that used it.
  if (broken || !connection || !connection->is_open()) connection.reset();
  {
    std::lock_guard lock(mutex_);
    --leased_;
    if (connection) idle_.push_back(std::move(connection));
  }
  available_.notify_one();
}

PoolStats ConnectionPool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.size = options_.size;
  s.in_use = leased_;
  s.idle = idle_.size();
  s.waiting = waiting_;
  s.waited_total = waited_total_;
  s.opened_total = opened_total_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace authd::db
