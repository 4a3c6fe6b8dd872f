#include "db/loop_connection.hpp"

#include <libpq-fe.h>
#include <openssl/ssl.h>
#include <poll.h>

#include <algorithm>
#include <memory>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "db/cancel.hpp"
#include "db/conninfo.hpp"

namespace authd::db::detail {
namespace {

using Clock = std::chrono::steady_clock;

// After a statement's deadline and its cancel, how long its reply may still take before the
// connection is given up.
constexpr std::chrono::milliseconds kCancelGrace{1000};

void ignore_notice(void*, const char*) {}

bool exec_ok(PGresult* result, ExecStatusType expected) {
  const bool ok = PQresultStatus(result) == expected;
  PQclear(result);
  return ok;
}

// Waits until the socket can be read (or written). The reactor is edge-triggered and libpq may
// leave bytes unread in the socket (it reads once per PQconsumeInput), so poll() looks first and
// the reactor is asked only when nothing is there: whatever arrives after that look is a new
// edge. False when the wait was cancelled (the deadline) or failed.
net::awaitable<bool> ready(Connection& connection, bool write) {
  // Under TLS, bytes already decrypted wait inside OpenSSL, where poll() cannot see them.
  if (!write) {
    if (auto* tls = static_cast<SSL*>(PQsslStruct(connection.pg.get(), "OpenSSL"));
        tls != nullptr && SSL_pending(tls) > 0) {
      co_return true;
    }
  }
  pollfd look{PQsocket(connection.pg.get()), static_cast<short>(write ? POLLOUT : POLLIN), 0};
  if (::poll(&look, 1, 0) > 0) co_return true;
  auto [error] = co_await connection.socket.async_wait(
      write ? net::posix::stream_descriptor::wait_write : net::posix::stream_descriptor::wait_read,
      net::as_tuple(net::use_awaitable));
  co_return !error;
}

// The deadline of one statement: when it passes, the socket's wait is cancelled. Shared with the
// timer's handler, which may run after the statement is done (then it does nothing).
struct Watch {
  net::posix::stream_descriptor* socket = nullptr;
  bool done = false;
  bool expired = false;
};

class Deadline {
 public:
  Deadline(Connection& connection, Clock::time_point at)
      : watch_(std::make_shared<Watch>()), timer_(connection.socket.get_executor()) {
    watch_->socket = &connection.socket;
    arm(at);
  }
  ~Deadline() {
    watch_->done = true;
    timer_.cancel();
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  bool expired() const { return watch_->expired; }
  // Another deadline, after the first one passed.
  void arm(Clock::time_point at) {
    watch_->expired = false;
    timer_.expires_at(at);
    timer_.async_wait([watch = watch_](boost::system::error_code ec) {
      if (ec || watch->done) return;
      watch->expired = true;
      watch->socket->cancel();
    });
  }

 private:
  std::shared_ptr<Watch> watch_;
  net::steady_timer timer_;
};

bool connection_lost(std::string_view sqlstate) {
  // Class 08: connection exception; 57P: the server is shutting down or terminated us.
  return sqlstate.starts_with("08") || sqlstate.starts_with("57P");
}

constexpr std::string_view kQueryCanceled = "57014";
constexpr std::string_view kReadOnlyTransaction = "25006";

}  // namespace

// Blocking: runs on the opener thread only. Null when PostgreSQL cannot be reached or refuses.
PgConnPtr open_blocking(const PoolOptions& options,
                        const std::vector<const sql::Statement*>& prepared) {
  PgConnPtr connection(connect_with_defaults(options.url));
  if (!connection || PQstatus(connection.get()) != CONNECTION_OK) return nullptr;
  PQsetNoticeProcessor(connection.get(), ignore_notice, nullptr);
  const std::string timeout = std::to_string(options.statement_timeout.count());
  const char* values[] = {timeout.c_str()};
  if (!exec_ok(PQexecParams(connection.get(), std::string(sql::kSetStatementTimeout.text).c_str(),
                            1, nullptr, values, nullptr, nullptr, 0),
               PGRES_TUPLES_OK)) {
    return nullptr;
  }
  if (!exec_ok(PQexec(connection.get(), std::string(sql::kUseGenericPlans.text).c_str()),
               PGRES_TUPLES_OK)) {
    return nullptr;
  }
  for (const sql::Statement* statement : prepared) {
    if (!exec_ok(PQprepare(connection.get(), std::string(statement->name).c_str(),
                           std::string(statement->text).c_str(), 0, nullptr),
                 PGRES_COMMAND_OK)) {
      return nullptr;
    }
  }
  if (PQsetnonblocking(connection.get(), 1) != 0) return nullptr;
  return connection;
}

net::awaitable<Run> run_statement(Connection& connection, const sql::Statement& statement,
                                  const std::vector<std::string>& params, bool prepared,
                                  Clock::duration timeout) {
  PGconn* pg = connection.pg.get();
  Run run;
  run.fate = Fate::unsent;
  // An idle connection has nothing to say: if it has, it is the server's goodbye (a restart,
  // pg_terminate_backend), and the statement is better not sent at all.
  // (The goodbye comes in two reads: its message, then the end of the stream.)
  for (int look_again = 0; look_again < 4; ++look_again) {
    pollfd look{PQsocket(pg), POLLIN, 0};
    if (::poll(&look, 1, 0) == 0) break;
    if (PQconsumeInput(pg) == 0 || PQstatus(pg) != CONNECTION_OK) co_return run;
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  const int count = static_cast<int>(values.size());
  const int sent = prepared ? PQsendQueryPrepared(pg, std::string(statement.name).c_str(), count,
                                                  values.data(), nullptr, nullptr, 0)
                            : PQsendQueryParams(pg, std::string(statement.text).c_str(), count,
                                                nullptr, values.data(), nullptr, nullptr, 0);
  if (sent == 0) co_return run;
  Deadline deadline(connection, Clock::now() + timeout);
  // Until the last byte is out the server has no Sync: whatever it got, it commits nothing.
  for (;;) {
    const int flushed = PQflush(pg);
    if (flushed == 0) break;
    if (flushed < 0 || !co_await ready(connection, true)) {
      run.past_deadline = deadline.expired();
      co_return run;
    }
  }
  run.fate = Fate::broken;
  bool cancelled = false;
  bool have_result = false;
  for (;;) {
    while (PQisBusy(pg) != 0) {
      if (co_await ready(connection, false)) {
        if (PQconsumeInput(pg) == 0) co_return run;
        continue;
      }
      if (!deadline.expired()) co_return run;
      if (cancelled) {
        run.fate = Fate::timed_out;
        co_return run;
      }
      // Past the deadline: cancel it, and wait a little for its answer, which says whether
      // it ran (its result) or not (57014), so the connection can stay.
      cancelled = true;
      cancel_in_background(pg);
      deadline.arm(Clock::now() + std::min<Clock::duration>(timeout, kCancelGrace));
    }
    PGresult* result = PQgetResult(pg);
    if (result == nullptr) break;
    if (have_result) {  // one statement gives one result; anything more is not ours to keep
      PQclear(result);
      continue;
    }
    have_result = true;
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      run.fate = Fate::ok;
      run.rows = Rows(result);
    } else if (status == PGRES_FATAL_ERROR) {
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      // The primary message only: DETAIL may quote a row, and with it a hash.
      const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
      run.sqlstate = state != nullptr ? state : "";
      run.message = primary != nullptr ? primary : "statement failed";
      if (connection_lost(run.sqlstate)) {
        run.fate = Fate::broken;
      } else if (run.sqlstate == kQueryCanceled) {
        run.fate = Fate::cancelled;  // by our cancel, or by statement_timeout
      } else if (run.sqlstate == kReadOnlyTransaction) {
        run.fate = Fate::read_only;
      } else {
        run.fate = Fate::failed;
      }
      PQclear(result);
    } else {
      run.fate = Fate::broken;
      PQclear(result);
    }
  }
  if (!have_result || PQstatus(pg) != CONNECTION_OK) run.fate = Fate::broken;
  co_return run;
}

}  // namespace authd::db::detail
