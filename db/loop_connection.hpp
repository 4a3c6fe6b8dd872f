#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <libpq-fe.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "db/async_db.hpp"
#include "db/pool.hpp"
#include "db/statements.hpp"

// One nonblocking libpq connection as an event loop drives it: opening it (blocking: on the
// opener thread), and running one statement on it with a deadline. AsyncDb (async_db.cpp) keeps
// the connections of each loop and decides what a statement's fate means; this file is how a
// statement travels over one of them.
namespace authd::db::detail {

namespace net = boost::asio;

// One libpq connection on one event loop. libpq owns the socket: the descriptor object only
// waits on it and lets go of it before libpq closes it.
struct Connection {
  Connection(const net::any_io_executor& executor, PgConnPtr pg)
      : pg(std::move(pg)), socket(executor, PQsocket(this->pg.get())) {}
  ~Connection() { (void)socket.release(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  PgConnPtr pg;
  net::posix::stream_descriptor socket;
  bool fresh = true;
};

// ok: rows. failed: PostgreSQL refused the statement; the connection is fine.
// unsent: it never fully left (send or flush failed): it did nothing; the connection is gone.
// broken: sent, then the connection broke before the whole reply: its outcome is unknown.
// cancelled: past its deadline, cancelled, and the cancel took: it did nothing; connection fine.
// timed_out: past its deadline, and no reply even after the cancel: outcome unknown, dropped.
// read_only: the server refused a write as read-only (a standby, or a demoted primary).
enum class Fate { ok, failed, unsent, broken, cancelled, timed_out, read_only };

struct Run {
  Fate fate = Fate::broken;
  Rows rows{nullptr};
  std::string sqlstate;
  std::string message;
  bool past_deadline = false;  // unsent because its deadline passed while sending
};

// Blocking: a new connection with the session settings and the prepared statements; null when
// PostgreSQL cannot be reached or refuses.
PgConnPtr open_blocking(const PoolOptions& options,
                        const std::vector<const sql::Statement*>& prepared);

// Sends the statement (prepared by name, or as text with its parameters), waits for its reply on
// the loop, and past timeout cancels it (PQcancel runs on a thread of its own).
net::awaitable<Run> run_statement(Connection& connection, const sql::Statement& statement,
                                  const std::vector<std::string>& params, bool prepared,
                                  std::chrono::steady_clock::duration timeout);

}  // namespace authd::db::detail
