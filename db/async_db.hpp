#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "db/errors.hpp"
#include "db/pool.hpp"
#include "db/statements.hpp"

// libpq's types, without pulling libpq-fe.h into every includer.
struct pg_result;
struct pg_conn;

namespace authd::db {

namespace net = boost::asio;

namespace detail {
struct PgConnDeleter {
  void operator()(pg_conn* connection) const;
};
using PgConnPtr = std::unique_ptr<pg_conn, PgConnDeleter>;
}  // namespace detail

// The rows of one statement's result, owned (PQclear at destruction). Rows and columns count
// from 0; text() is valid while the Rows lives.
class Rows {
 public:
  explicit Rows(pg_result* result) : result_(result) {}
  Rows(Rows&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  Rows& operator=(Rows&& other) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  ~Rows();

  int size() const;
  bool empty() const { return size() == 0; }
  bool is_null(int row, int column) const;
  std::string_view text(int row, int column) const;
  std::string string(int row, int column) const { return std::string(text(row, column)); }
  std::int64_t integer(int row, int column) const;
  bool boolean(int row, int column) const { return text(row, column) == "t"; }

 private:
  pg_result* result_;
};

struct AsyncDbStats {
  std::size_t size = 0;     // connections allowed, all event loops together (reads' one included)
  std::size_t open = 0;     // open or being opened
  std::size_t in_use = 0;   // running a statement now
  std::size_t waiting = 0;  // statements waiting for a connection
};

// The request path's statements on nonblocking libpq connections that each event-loop thread
// drives itself: a statement is sent, the coroutine waits for the socket like for any other,
// and the result is read on the same thread. No thread handoff per query, unlike DbExecutor
// (whose threads run everything else). Each io_context that runs statements gets its own
// connections: options.size for any statement and one more that only read-only statements use,
// so session checks never queue behind commits. They are opened on a background thread, because
// opening one blocks (name lookup, TCP, authentication), with TCP keepalives.
//
// Every statement has a deadline (options.client_timeout): past it, it is cancelled (PQcancel on
// a thread of its own) and its answer awaited a moment longer; the call throws
// DatabaseUnavailable, or OutcomeUnknown for a write whose answer never came. A connection that
// breaks is dropped. A read-only statement, or one that never left, that was on a reused
// connection is tried once more on a fresh one, so a restart of PostgreSQL is invisible beyond
// the writes it interrupted; a write that was sent is never run twice (OutcomeUnknown: the
// caller looks its row up). A write refused as read-only (25006: a standby, or a primary since
// demoted) drops the connection and is tried once on a fresh one.
class AsyncDb {
 public:
  // options.size is the number of connections per event loop that writes may use.
  explicit AsyncDb(PoolOptions options);
  ~AsyncDb();
  AsyncDb(const AsyncDb&) = delete;
  AsyncDb& operator=(const AsyncDb&) = delete;

  // Waits for connections being opened; afterwards no new ones are. Called after the event
  // loops have stopped, before their io_contexts go.
  void stop();

  // Runs the statement with text parameters on the calling coroutine's io_context. Statements
  // of async_statements() run prepared. Throws DatabaseUnavailable (cannot connect, connection
  // lost, past the deadline), OutcomeUnknown (a write may or may not have committed),
  // PoolExhausted (no connection became free in time) or StatementError; std::logic_error for a
  // statement whose path is sql::Path::worker.
  net::awaitable<Rows> exec(const sql::Statement& statement, std::vector<std::string> params);

  AsyncDbStats stats() const;

  // A connection of its own, opened on the opener thread with the same settings (null when
  // PostgreSQL cannot be reached): for a caller that keeps one open, like the notification
  // listener.
  net::awaitable<detail::PgConnPtr> open_connection() { return open_elsewhere(); }
  const PoolOptions& options() const { return options_; }
  // Statements that were tried again on a fresh connection after one broke (or was read-only).
  std::uint64_t retried() const { return retried_.load(std::memory_order_relaxed); }

  // The statements prepared on every connection: those whose path includes the loop.
  static const std::vector<const sql::Statement*>& async_statements();

 private:
  class Loop;
  friend class Loop;
  Loop& loop_for_current(net::execution_context& context);
  // A new connection, opened on the opener thread; null when that failed.
  net::awaitable<detail::PgConnPtr> open_elsewhere();

  PoolOptions options_;
  std::unique_ptr<net::thread_pool> opener_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::size_t> loops_{0};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::uint64_t> retried_{0};
};

}  // namespace authd::db
