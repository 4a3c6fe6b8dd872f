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

#include "db/loop_connection.hpp"

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
using detail::Connection;
using detail::Fate;
using detail::open_blocking;
using detail::PgConnPtr;
using detail::Run;
using detail::run_statement;

// Statements waiting for a connection on one event loop, at most.
constexpr std::size_t kMaxWaitersPerConnection = 512;

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

  // A connection borrowed for one statement: the destructor gives it back (or drops it when
  // marked broken), so no exception can keep a place taken.
  class Lease {
   public:
    Lease(Loop& loop, std::unique_ptr<Connection> connection, bool write)
        : loop_(&loop), connection_(std::move(connection)), write_(write) {}
    Lease(Lease&& other) noexcept
        : loop_(other.loop_),
          connection_(std::move(other.connection_)),
          write_(other.write_),
          broken_(other.broken_) {}
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease() {
      if (connection_) loop_->release(std::move(connection_), broken_, write_);
    }
    Connection& connection() { return *connection_; }
    void mark_broken() { broken_ = true; }

   private:
    Loop* loop_;
    std::unique_ptr<Connection> connection_;
    bool write_;
    bool broken_ = false;
  };

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

  net::awaitable<Lease> acquire(const net::any_io_executor& executor, Clock::time_point deadline,
                                bool write) {
    for (;;) {
      if (may_take(write) && !idle_.empty()) {
        auto connection = std::move(idle_.back());
        idle_.pop_back();
        if (write) ++writes_;
        co_return Lease(*this, std::move(connection), write);
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
        co_return Lease(*this, std::make_unique<Connection>(executor, std::move(pg)), write);
      }
      if (waiters_.size() >= kMaxWaitersPerConnection * capacity()) {
        throw PoolExhausted("too many database calls waiting");
      }
      Waiter waiter(executor, deadline, write);
      waiters_.push_back(&waiter);
      owner->waiting_.fetch_add(1, std::memory_order_relaxed);
      co_await waiter.timer.async_wait(net::as_tuple(net::use_awaitable));
      owner->waiting_.fetch_sub(1, std::memory_order_relaxed);
      if (waiter.connection) co_return Lease(*this, std::move(waiter.connection), write);
      if (!waiter.woken) {
        waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
        throw PoolExhausted("no database connection became free in time");
      }
      // Woken without a connection: a place came free (or opening failed); look again.
    }
  }

  AsyncDb* owner = nullptr;

 private:
  // Only through a Lease.
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
      wake_for_free_places();
      return;
    }
    if (auto next = first_eligible(); next != waiters_.end()) {
      if ((*next)->write) ++writes_;
      wake(next, std::move(connection));
      return;
    }
    idle_.push_back(std::move(connection));
  }

  void forget_one() {
    --open_;
    owner->open_.fetch_sub(1, std::memory_order_relaxed);
  }

  std::deque<Waiter*>::iterator first_eligible() {
    return std::find_if(waiters_.begin(), waiters_.end(),
                        [this](const Waiter* w) { return may_take(w->write); });
  }

  // Every waiter, in order, that a place now free can serve (each opens a connection of its
  // own), not just the first: after a restart cut them all, all of them may go on.
  void wake_for_free_places() {
    std::size_t places = capacity() > open_ ? capacity() - open_ : 0;
    const std::size_t size = owner->options_.size;
    std::size_t write_places = size > writes_ ? size - writes_ : 0;
    for (auto it = waiters_.begin(); it != waiters_.end() && places > 0;) {
      if ((*it)->write) {
        if (write_places == 0) {
          ++it;
          continue;
        }
        --write_places;
      }
      --places;
      it = wake(it, nullptr);
    }
  }

  std::deque<Waiter*>::iterator wake(std::deque<Waiter*>::iterator position,
                                     std::unique_ptr<Connection> connection) {
    Waiter* waiter = *position;
    auto next = waiters_.erase(position);
    waiter->connection = std::move(connection);
    waiter->woken = true;
    waiter->timer.cancel();
    return next;
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
  if (options_.client_timeout.count() <= 0) options_.client_timeout = std::chrono::seconds(5);
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
  static const std::vector<const sql::Statement*> statements = [] {
    std::vector<const sql::Statement*> out;
    for (const sql::Statement* statement : sql::all_statements()) {
      if (statement->on_loop()) out.push_back(statement);
    }
    return out;
  }();
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
      PgConnPtr connection = open_blocking(options_, async_statements());
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
  if (!statement.on_loop()) {
    throw std::logic_error(std::string(statement.name) + " may not run on an event loop");
  }
  if (stopped_.load(std::memory_order_relaxed)) throw DatabaseUnavailable("authd is stopping");
  const auto executor = co_await net::this_coro::executor;
  Loop& loop = loop_for_current(net::query(executor, net::execution::context));
  // The prepared ones are the statements of db/statements.hpp, one object each.
  const auto& prepared_ones = async_statements();
  const bool prepared =
      std::find(prepared_ones.begin(), prepared_ones.end(), &statement) != prepared_ones.end();
  const auto deadline = Clock::now() + options_.acquire_timeout;
  const bool write = !statement.read_only;
  for (int attempt = 0;; ++attempt) {
    Loop::Lease lease = co_await loop.acquire(executor, deadline, write);
    const bool fresh = lease.connection().fresh;
    lease.connection().fresh = false;
    in_use_.fetch_add(1, std::memory_order_relaxed);
    Run run = co_await run_statement(lease.connection(), statement, params, prepared,
                                     options_.client_timeout);
    in_use_.fetch_sub(1, std::memory_order_relaxed);
    switch (run.fate) {
      case Fate::ok:
        co_return std::move(run.rows);
      case Fate::failed:
        throw StatementError(run.sqlstate, std::string(statement.name) + ": " + run.message + " (" +
                                               run.sqlstate + ")");
      case Fate::cancelled:
        throw DatabaseUnavailable(std::string(statement.name) + " ran past its deadline");
      case Fate::timed_out:
        lease.mark_broken();
        if (write) throw OutcomeUnknown(std::string(statement.name) + ": no answer in time");
        throw DatabaseUnavailable(std::string(statement.name) + ": no answer in time");
      case Fate::unsent:
        lease.mark_broken();
        // It never reached PostgreSQL: any statement may be tried again, once.
        if (fresh || attempt > 0 || run.past_deadline) {
          throw DatabaseUnavailable("lost the connection to PostgreSQL");
        }
        break;
      case Fate::read_only:
        lease.mark_broken();  // a fresh connection may find the new primary
        if (attempt > 0) throw DatabaseUnavailable("PostgreSQL is read-only");
        break;
      case Fate::broken:
        lease.mark_broken();
        // A write may have committed before the connection broke: never run it twice.
        if (write) throw OutcomeUnknown("lost the connection to PostgreSQL during a write");
        if (fresh || attempt > 0) throw DatabaseUnavailable("lost the connection to PostgreSQL");
        break;
    }
    retried_.fetch_add(1, std::memory_order_relaxed);
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
