#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "db/errors.hpp"

namespace authd::db {

struct PoolOptions {
  std::string url;
  std::size_t size = 4;
  // How long a caller waits for a free connection before PoolExhausted.
  std::chrono::milliseconds acquire_timeout{2000};
  // Server-side limit on every statement: a blocking libpq call cannot be cancelled otherwise.
  std::chrono::milliseconds statement_timeout{10000};
  // After a failed connect, new connections are not tried again for this long: callers fail fast.
  std::chrono::milliseconds reconnect_backoff{500};
  // The event loops' (AsyncDb's) client-side deadline on each statement: past it the statement
  // is cancelled (PQcancel, off the loop) and the call throws DatabaseUnavailable.
  std::chrono::milliseconds client_timeout{5000};
};

struct PoolStats {
  std::size_t size = 0;
  std::size_t in_use = 0;
  std::size_t idle = 0;
  std::size_t waiting = 0;
  std::uint64_t waited_total = 0;  // acquisitions that had to wait for a connection
  std::uint64_t opened_total = 0;
};

class ConnectionPool;

// A connection borrowed from the pool; given back when the lease is destroyed. A lease whose
// connection broke is dropped instead, and the pool opens a new one for the next caller.
class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

  pqxx::connection& connection() { return *connection_; }
  pqxx::connection* operator->() { return connection_.get(); }
  // True when the connection was opened for this lease rather than reused.
  bool fresh() const { return fresh_; }
  void mark_broken() { broken_ = true; }

 private:
  friend class ConnectionPool;
  Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> connection, bool fresh);

  ConnectionPool* pool_;
  std::unique_ptr<pqxx::connection> connection_;
  bool fresh_;
  bool broken_ = false;
};

// A fixed number of libpqxx connections, opened lazily on the thread that acquires them.
// acquire() blocks: call it only from DB threads (see DbExecutor) or command-line code.
class ConnectionPool {
 public:
  explicit ConnectionPool(PoolOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Waits until the deadline for a connection; throws PoolExhausted on timeout and
  // DatabaseUnavailable when a new connection cannot be opened.
  Lease acquire(std::chrono::steady_clock::time_point deadline);
  Lease acquire() { return acquire(std::chrono::steady_clock::now() + options_.acquire_timeout); }

  const PoolOptions& options() const { return options_; }
  PoolStats stats() const;

  // Opens a connection with the pool's settings and prepared statements (used for one-off
  // connections too, such as the backup's).
  std::unique_ptr<pqxx::connection> open_connection();

 private:
  friend class Lease;
  void give_back(std::unique_ptr<pqxx::connection> connection, bool broken);

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t leased_ = 0;
  std::size_t waiting_ = 0;
  std::uint64_t waited_total_ = 0;
  std::atomic<std::uint64_t> opened_total_{0};
  std::chrono::steady_clock::time_point connect_failed_until_{};
};

}  // namespace authd::db
