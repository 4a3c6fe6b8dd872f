#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <pqxx/connection>
#include <pqxx/except>

#include "db/pool.hpp"

namespace authd::db {

namespace net = boost::asio;

// Runs fn with a leased connection on the calling thread. A connection that breaks is dropped;
// when it was a reused one (PostgreSQL restarted, backend terminated) the call is tried once
// more on a fresh connection, so a restart is invisible to callers (fn is a read, a transaction
// that rolls back when cut, or idempotent). A commit cut off midway is OutcomeUnknown, never
// tried again. A connection found on a read-only server (SQLSTATE 25006: a standby, or a
// primary since demoted) is dropped and fn tried once on a fresh one, which libpq opens on a
// read-write server when there is one.
template <class F>
auto with_connection(ConnectionPool& pool, std::chrono::steady_clock::time_point deadline, F& fn)
    -> std::invoke_result_t<F&, pqxx::connection&> {
  for (int attempt = 0;; ++attempt) {
    Lease lease = pool.acquire(deadline);
    try {
      return fn(lease.connection());
    } catch (const pqxx::broken_connection&) {
      lease.mark_broken();
      if (lease.fresh() || attempt > 0)
        throw DatabaseUnavailable("lost the connection to PostgreSQL");
    } catch (const pqxx::in_doubt_error&) {
      lease.mark_broken();
      throw OutcomeUnknown("the connection broke while a transaction committed");
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "25006") throw;
      lease.mark_broken();
      if (attempt > 0) throw DatabaseUnavailable("PostgreSQL is read-only");
    }
  }
}

// Threads that run blocking libpqxx calls for coroutines, so no event-loop thread ever waits on
// PostgreSQL. The queue of waiting calls is bounded: past it, callers get PoolExhausted at once.
class DbExecutor {
 public:
  DbExecutor(ConnectionPool& pool, std::size_t threads, std::size_t max_queue);
  ~DbExecutor();
  DbExecutor(const DbExecutor&) = delete;
  DbExecutor& operator=(const DbExecutor&) = delete;

  // Finishes queued calls, then joins the threads.
  void stop();

  ConnectionPool& pool() { return pool_; }
  std::size_t queued() const;

  // co_await run(fn): fn(pqxx::connection&) runs on a DB thread; its result or exception comes
  // back on the coroutine's own executor. A call that has not started on a thread by the pool's
  // acquire_timeout gets PoolExhausted then, and fn never runs. With a timeout, the caller gets
  // DatabaseUnavailable when fn has not finished in time (fn still runs to its end on the DB
  // thread, so it must own what it uses). Each statement is bounded by the pool's
  // statement_timeout, and the connections' TCP keepalives notice a server gone silent.
  template <class F>
  auto run(F fn, std::chrono::milliseconds timeout = std::chrono::milliseconds::zero())
      -> net::awaitable<std::invoke_result_t<F&, pqxx::connection&>>;

 private:
  struct Job {
    virtual ~Job() = default;
    virtual void run() = 0;
    virtual void reject(std::exception_ptr error) = 0;
  };

  template <class Fn>
  struct JobImpl final : Job {
    explicit JobImpl(Fn f) : fn(std::move(f)) {}
    void run() override { fn(nullptr); }
    void reject(std::exception_ptr error) override { fn(error); }
    Fn fn;
  };

  void submit(std::unique_ptr<Job> job);
  void work();

  ConnectionPool& pool_;
  std::size_t max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

template <class F>
auto DbExecutor::run(F fn, std::chrono::milliseconds timeout)
    -> net::awaitable<std::invoke_result_t<F&, pqxx::connection&>> {
  using R = std::invoke_result_t<F&, pqxx::connection&>;
  using Value = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  using Signature = void(std::exception_ptr, std::optional<Value>);
  const auto deadline = std::chrono::steady_clock::now() + pool_.options().acquire_timeout;

  auto initiation = [this, deadline, timeout](auto handler, F fn) {
    using Handler = decltype(handler);
    using Executor = net::associated_executor_t<Handler>;
    Executor executor = net::get_associated_executor(handler);
    // Whichever finishes first (the call or the timer) takes the handler and completes it.
    struct State {
      explicit State(Handler h) : handler(std::move(h)) {}
      std::mutex mutex;
      std::optional<Handler> handler;
      std::optional<net::steady_timer> timer;  // only for calls with a timeout
      std::optional<net::steady_timer> queue_timer;
      // Set by whichever comes first: a DB thread starting the call, or the queue's deadline.
      std::atomic<bool> claimed{false};
    };
    auto state = std::make_shared<State>(std::move(handler));
    auto complete = [state, executor](std::exception_ptr error, std::optional<Value> value) {
      std::optional<Handler> taken;
      {
        std::lock_guard lock(state->mutex);
        if (!state->handler) return;
        taken.emplace(std::move(*state->handler));
        state->handler.reset();
      }
      net::dispatch(executor,
                    [state, h = std::move(*taken), error, v = std::move(value)]() mutable {
                      if (state->timer) state->timer->cancel();
                      if (state->queue_timer) state->queue_timer->cancel();
                      std::move(h)(error, std::move(v));
                    });
    };
    if (timeout.count() > 0) {
      state->timer.emplace(executor, timeout);
      state->timer->async_wait([complete](boost::system::error_code ec) {
        if (ec) return;
        complete(std::make_exception_ptr(DatabaseUnavailable("PostgreSQL did not answer in time")),
                 std::nullopt);
      });
    }
    // Waiting for a thread has a deadline even when every thread is stuck on a statement.
    state->queue_timer.emplace(executor, deadline);
    state->queue_timer->async_wait([state, complete](boost::system::error_code ec) {
      if (ec || state->claimed.exchange(true)) return;
      complete(std::make_exception_ptr(PoolExhausted("the database queue was too long")),
               std::nullopt);
    });
    auto work = net::make_work_guard(executor);
    auto job = [this, state, deadline, fn = std::move(fn), complete,
                work = std::move(work)](std::exception_ptr rejected) mutable {
      // The completion's state owns a timer of the caller's executor: release it before the
      // work guard, so it never outlives the caller's io_context.
      const auto finish = [&](std::exception_ptr error, std::optional<Value> value) {
        {
          auto done = std::move(complete);
          done(error, std::move(value));
        }
        state.reset();
        work.reset();
      };
      if (rejected) {
        finish(rejected, std::nullopt);
        return;
      }
      if (state->claimed.exchange(true)) {  // the caller was told PoolExhausted already
        finish(nullptr, std::nullopt);
        return;
      }
      std::exception_ptr error;
      std::optional<Value> value;
      try {
        if (std::chrono::steady_clock::now() > deadline) {
          throw PoolExhausted("the database queue was too long");
        }
        if constexpr (std::is_void_v<R>) {
          with_connection(pool_, deadline, fn);
          value.emplace();
        } else {
          value.emplace(with_connection(pool_, deadline, fn));
        }
      } catch (...) {
        error = std::current_exception();
      }
      finish(error, std::move(value));
    };
    submit(std::make_unique<JobImpl<decltype(job)>>(std::move(job)));
  };

  auto result = co_await net::async_initiate<decltype(net::use_awaitable), Signature>(
      std::move(initiation), net::use_awaitable, std::move(fn));
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

}  // namespace authd::db
