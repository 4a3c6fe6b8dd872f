#include "db/async_db.hpp"

#include <libpq-fe.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <stdexcept>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace authd::db {

void detail::PgConnDeleter::operator()(pg_conn* connection) const {
  PQfinish(connection);
}

Rows& Rows::operator=(Rows&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

Rows::~Rows() {
  if (result_ != nullptr) PQclear(result_);
}

int Rows::size() const {
  return result_ == nullptr ? 0 : PQntuples(result_);
}

bool Rows::is_null(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

std::string_view Rows::text(int row, int column) const {
  return {PQgetvalue(result_, row, column),
          static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

std::int64_t Rows::integer(int row, int column) const {
  const std::string_view value = text(row, column);
  std::int64_t out = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (error != std::errc{} || end != value.data() + value.size()) {
    throw std::runtime_error("a result column is not an integer");
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

// Statements waiting for a connection on one event loop, at most.
constexpr std::size_t kMaxWaitersPerConnection = 512;

using detail::PgConnPtr;

void ignore_notice(void*, const char*) {}

bool exec_ok(PGresult* result, ExecStatusType expected) {
  const bool ok = PQresultStatus(result) == expected;
  PQclear(result);
  return ok;
}

// Blocking: runs on the opener thread only. Null when PostgreSQL cannot be reached or refuses.
PgConnPtr open_blocking(const PoolOptions& options) {
  PgConnPtr connection(PQconnectdb(options.url.c_str()));
  if (!connection || PQstatus(connection.get()) != CONNECTION_OK) return nullptr;
  PQsetNoticeProcessor(connection.get(), ignore_notice, nullptr);
  const std::string timeout = std::to_string(options.statement_timeout.count());
  const char* values[] = {timeout.c_str()};
  if (!exec_ok(PQexecParams(connection.get(), std::string(sql::kSetStatementTimeout.text).c_str(),
                            1, nullptr, values, nullptr, nullptr, 0),
               PGRES_TUPLES_OK)) {
    return nullptr;
  }
  for (const sql::Statement* statement : AsyncDb::async_statements()) {
    if (!exec_ok(PQprepare(connection.get(), std::string(statement->name).c_str(),
                           std::string(statement->text).c_str(), 0, nullptr),
                 PGRES_COMMAND_OK)) {
      return nullptr;
    }
  }
  if (PQsetnonblocking(connection.get(), 1) != 0) return nullptr;
  return connection;
}

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

// Waits until the socket can be read (or written). The reactor is edge-triggered and libpq may
// leave bytes unread in the socket (it reads once per PQconsumeInput), so poll() looks first and
// the reactor is asked only when nothing is there: whatever arrives after that look is a new
// edge.
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

enum class Fate { ok, broken, failed };

struct Run {
  Fate fate = Fate::broken;
  Rows rows{nullptr};
  std::string sqlstate;
  std::string message;
};

bool connection_lost(std::string_view sqlstate) {
  // Class 08: connection exception; 57P: the server is shutting down or terminated us.
  return sqlstate.starts_with("08") || sqlstate.starts_with("57P");
}

net::awaitable<Run> run_statement(Connection& connection, const sql::Statement& statement,
                                  const std::vector<std::string>& params, bool prepared) {
  PGconn* pg = connection.pg.get();
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  const int count = static_cast<int>(values.size());
  const int sent = prepared ? PQsendQueryPrepared(pg, std::string(statement.name).c_str(), count,
                                                  values.data(), nullptr, nullptr, 0)
                            : PQsendQueryParams(pg, std::string(statement.text).c_str(), count,
                                                nullptr, values.data(), nullptr, nullptr, 0);
  Run run;
  if (sent == 0) co_return run;
  for (;;) {
    const int flushed = PQflush(pg);
    if (flushed == 0) break;
    if (flushed < 0 || !co_await ready(connection, true)) co_return run;
  }
  bool have_result = false;
  for (;;) {
    while (PQisBusy(pg) != 0) {
      if (!co_await ready(connection, false) || PQconsumeInput(pg) == 0) {
        run.fate = Fate::broken;
        co_return run;
      }
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
      run.fate = connection_lost(run.sqlstate) ? Fate::broken : Fate::failed;
      PQclear(result);
    } else {
      run.fate = Fate::broken;
      PQclear(result);
    }
  }
  if (!have_result || PQstatus(pg) != CONNECTION_OK) run.fate = Fate::broken;
  co_return run;
}

}  // namespace

// The connections of one event loop (io_context), and the statements waiting for one. Lives as
// a service of that io_context, so it goes with it; touched only from that loop's thread.
class AsyncDb::Loop : public net::execution_context::service {
 public:
  static net::execution_context::id id;

  explicit Loop(net::execution_context& context) : net::execution_context::service(context) {}

  void shutdown() override {
    waiters_.clear();
    idle_.clear();
  }

  struct Waiter {
    Waiter(const net::any_io_executor& executor, Clock::time_point deadline, bool write)
        : timer(executor, deadline), write(write) {}
    net::steady_timer timer;
    const bool write;
    std::unique_ptr<Connection> connection;
    bool woken = false;  // by release(): with a connection, or to look again
  };

  // A loop has options.size connections for any statement and one more for read-only ones:
  // writes (which wait for a WAL flush) never hold them all, so a session check never queues
  // behind commits, even when the disk is slow.
  std::size_t capacity() const { return owner->options_.size + 1; }
  bool may_take(bool write) const { return !write || writes_ < owner->options_.size; }

  net::awaitable<std::unique_ptr<Connection>> acquire(const net::any_io_executor& executor,
                                                      Clock::time_point deadline, bool write) {
    for (;;) {
      if (may_take(write) && !idle_.empty()) {
        auto connection = std::move(idle_.back());
        idle_.pop_back();
        if (write) ++writes_;
        co_return connection;
      }
      if (may_take(write) && open_ < capacity()) {
        if (Clock::now() < failed_until_) throw DatabaseUnavailable("PostgreSQL is unreachable");
        ++open_;
        if (write) ++writes_;
        owner->open_.fetch_add(1, std::memory_order_relaxed);
        PgConnPtr pg = co_await owner->open_elsewhere();
        if (!pg) {
          if (write) --writes_;
          forget_one();
          failed_until_ = Clock::now() + owner->options_.reconnect_backoff;
          // Everyone waiting learns it now rather than at their deadline.
          while (!waiters_.empty()) wake(waiters_.begin(), nullptr);
          throw DatabaseUnavailable("cannot connect to PostgreSQL");
        }
        co_return std::make_unique<Connection>(executor, std::move(pg));
      }
      if (waiters_.size() >= kMaxWaitersPerConnection * capacity()) {
        throw PoolExhausted("too many database calls waiting");
      }
      Waiter waiter(executor, deadline, write);
      waiters_.push_back(&waiter);
      owner->waiting_.fetch_add(1, std::memory_order_relaxed);
      co_await waiter.timer.async_wait(net::as_tuple(net::use_awaitable));
      owner->waiting_.fetch_sub(1, std::memory_order_relaxed);
      if (waiter.connection) co_return std::move(waiter.connection);
      if (!waiter.woken) {
        waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
        throw PoolExhausted("no database connection became free in time");
      }
      // Woken without a connection: a place came free (or opening failed); look again.
    }
  }

  void release(std::unique_ptr<Connection> connection, bool broken, bool write) {
    if (write) --writes_;
    if (broken) {
      connection.reset();
      forget_one();
      // The others may have been cut too (PostgreSQL restarted): open fresh ones as needed.
      while (!idle_.empty()) {
        idle_.pop_back();
        forget_one();
      }
      if (auto next = first_eligible(); next != waiters_.end()) wake(next, nullptr);
      return;
    }
    if (auto next = first_eligible(); next != waiters_.end()) {
      if ((*next)->write) ++writes_;
      wake(next, std::move(connection));
      return;
    }
    idle_.push_back(std::move(connection));
  }

  AsyncDb* owner = nullptr;

 private:
  void forget_one() {
    --open_;
    owner->open_.fetch_sub(1, std::memory_order_relaxed);
  }

  std::deque<Waiter*>::iterator first_eligible() {
    return std::find_if(waiters_.begin(), waiters_.end(),
                        [this](const Waiter* w) { return may_take(w->write); });
  }

  void wake(std::deque<Waiter*>::iterator position, std::unique_ptr<Connection> connection) {
    Waiter* waiter = *position;
    waiters_.erase(position);
    waiter->connection = std::move(connection);
    waiter->woken = true;
    waiter->timer.cancel();
  }

  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;    // open, in use or being opened
  std::size_t writes_ = 0;  // connections running (or being opened for) a write
  std::deque<Waiter*> waiters_;
  Clock::time_point failed_until_{};
};

net::execution_context::id AsyncDb::Loop::id;

AsyncDb::AsyncDb(PoolOptions options)
    : options_(std::move(options)), opener_(std::make_unique<net::thread_pool>(1)) {
  if (options_.size == 0) options_.size = 1;
  net::post(*opener_, [] { (void)::pthread_setname_np(::pthread_self(), "authd-pgopen"); });
}

AsyncDb::~AsyncDb() {
  stop();
}

void AsyncDb::stop() {
  stopped_.store(true);
  opener_->join();
}

const std::vector<const sql::Statement*>& AsyncDb::async_statements() {
  static const std::vector<const sql::Statement*> statements = {
      &sql::kPing,
      &sql::kInsertUser,
      &sql::kFindClash,
      &sql::kLoginByEmail,
      &sql::kLoginByUsername,
      &sql::kRecordLoginFailure,
      &sql::kCreateSession,
      &sql::kSessionUser,
      &sql::kDeleteSession,
      &sql::kLimitCount,
      &sql::kLimitSettle,
      &sql::kLoginCountByEmail,
      &sql::kLoginCountByUsername,
      &sql::kInsertSessionSettled,
      &sql::kInsertSession,
  };
  return statements;
}

AsyncDb::Loop& AsyncDb::loop_for_current(net::execution_context& context) {
  Loop& loop = net::use_service<Loop>(context);
  if (loop.owner == nullptr) {
    loop.owner = this;
    loops_.fetch_add(1, std::memory_order_relaxed);
  } else if (loop.owner != this) {
    throw std::logic_error("an io_context serves one AsyncDb only");
  }
  return loop;
}

net::awaitable<detail::PgConnPtr> AsyncDb::open_elsewhere() {
  auto initiation = [this](auto handler) {
    auto work = net::make_work_guard(net::get_associated_executor(handler));
    net::post(*opener_, [this, handler = std::move(handler), work = std::move(work)]() mutable {
      PgConnPtr connection = open_blocking(options_);
      net::dispatch(work.get_executor(),
                    [handler = std::move(handler), connection = std::move(connection)]() mutable {
                      std::move(handler)(std::move(connection));
                    });
    });
  };
  co_return co_await net::async_initiate<decltype(net::use_awaitable), void(PgConnPtr)>(
      initiation, net::use_awaitable);
}

net::awaitable<Rows> AsyncDb::exec(const sql::Statement& statement,
                                   std::vector<std::string> params) {
  if (stopped_.load(std::memory_order_relaxed)) throw DatabaseUnavailable("authd is stopping");
  const auto executor = co_await net::this_coro::executor;
  Loop& loop = loop_for_current(net::query(executor, net::execution::context));
  // The prepared ones are the statements of db/statements.hpp, one object each.
  const auto& prepared_ones = async_statements();
  const bool prepared =
      std::find(prepared_ones.begin(), prepared_ones.end(), &statement) != prepared_ones.end();
  const auto deadline = Clock::now() + options_.acquire_timeout;
  for (int attempt = 0;; ++attempt) {
    const bool write = !statement.read_only;
    std::unique_ptr<Connection> connection = co_await loop.acquire(executor, deadline, write);
    const bool fresh = connection->fresh;
    connection->fresh = false;
    in_use_.fetch_add(1, std::memory_order_relaxed);
    Run run = co_await run_statement(*connection, statement, params, prepared);
    in_use_.fetch_sub(1, std::memory_order_relaxed);
    if (run.fate == Fate::broken) {
      loop.release(std::move(connection), true, write);
      if (fresh || attempt > 0) throw DatabaseUnavailable("lost the connection to PostgreSQL");
      retried_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    loop.release(std::move(connection), false, write);
    if (run.fate == Fate::failed) {
      throw StatementError(run.sqlstate, std::string(statement.name) + ": " + run.message + " (" +
                                             run.sqlstate + ")");
    }
    co_return std::move(run.rows);
  }
}

AsyncDbStats AsyncDb::stats() const {
  AsyncDbStats s;
  s.size = (options_.size + 1) * loops_.load(std::memory_order_relaxed);
  s.open = open_.load(std::memory_order_relaxed);
  s.in_use = in_use_.load(std::memory_order_relaxed);
  s.waiting = waiting_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace authd::db
