#include "db/notifications.hpp"

#include <poll.h>

#include <algorithm>
#include <optional>
#include <utility>

#include <libpq-fe.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "db/loop_connection.hpp"

namespace authd::db {

namespace {

constexpr std::chrono::milliseconds kFirstRetry{100};
constexpr std::chrono::milliseconds kLongestRetry{2000};
constexpr std::chrono::seconds kListenTimeout{5};

}  // namespace

struct NotificationListener::State {
  State(AsyncDb& d, std::string c, Handlers h)
      : db(d), channel(std::move(c)), handlers(std::move(h)) {}
  AsyncDb& db;
  const std::string channel;
  const Handlers handlers;
  // Loop-only from here on.
  std::optional<net::any_io_executor> executor;
  bool stopped = false;
  detail::Connection* connection = nullptr;  // while one is open
  std::optional<net::steady_timer> pause;    // while waiting to connect again
};

NotificationListener::NotificationListener(AsyncDb& db, std::string channel, Handlers handlers)
    : state_(std::make_shared<State>(db, std::move(channel), std::move(handlers))) {}

NotificationListener::~NotificationListener() {
  stop();
}

void NotificationListener::start(const net::any_io_executor& executor) {
  state_->executor = executor;
  net::co_spawn(executor, run(state_), net::detached);
}

void NotificationListener::stop() {
  if (!state_->executor) return;
  net::post(*state_->executor, [state = state_] {
    state->stopped = true;
    if (state->connection) state->connection->socket.cancel();
    if (state->pause) state->pause->cancel();
  });
}

net::awaitable<void> NotificationListener::run(std::shared_ptr<State> state) {
  const auto executor = co_await net::this_coro::executor;
  auto retry = kFirstRetry;
  while (!state->stopped) {
    detail::PgConnPtr pg = co_await state->db.open_connection();
    bool listened = false;
    if (pg && !state->stopped) {
      detail::Connection connection(executor, std::move(pg));
      state->connection = &connection;
      PGconn* raw = connection.pg.get();
      // The channel is ours, never a client's: quoted as an identifier all the same.
      char* quoted = PQescapeIdentifier(raw, state->channel.data(), state->channel.size());
      const std::string listen = std::string("LISTEN ") + (quoted ? quoted : "\"\"");
      PQfreemem(quoted);
      auto wait = [&](bool write) -> net::awaitable<bool> {
        pollfd look{PQsocket(raw), static_cast<short>(write ? POLLOUT : POLLIN), 0};
        if (::poll(&look, 1, 0) > 0) co_return true;
        auto [error] =
            co_await connection.socket.async_wait(write ? net::posix::stream_descriptor::wait_write
                                                        : net::posix::stream_descriptor::wait_read,
                                                  net::as_tuple(net::use_awaitable));
        co_return !error && !state->stopped;
      };
      bool ok = PQsendQuery(raw, listen.c_str()) == 1;
      // The command leaves, then its one result arrives.
      while (ok) {
        const int flushed = PQflush(raw);
        if (flushed == 0) break;
        if (flushed < 0) {
          ok = false;
          break;
        }
        const bool writable = co_await wait(true);
        ok = writable;
      }
      const auto deadline = std::chrono::steady_clock::now() + kListenTimeout;
      bool commanded = false;
      while (ok) {
        if (PQconsumeInput(raw) != 1) {
          ok = false;
          break;
        }
        if (PQisBusy(raw)) {
          if (std::chrono::steady_clock::now() >= deadline) {
            ok = false;
            break;
          }
          const bool readable = co_await wait(false);
          ok = readable;
          continue;
        }
        PGresult* result = PQgetResult(raw);
        if (!result) break;
        commanded = PQresultStatus(result) == PGRES_COMMAND_OK;
        PQclear(result);
      }
      if (ok && commanded && !state->stopped) {
        listened = true;
        retry = kFirstRetry;
        state->handlers.listening(true);
        // Until the connection breaks (pg_terminate_backend, a restart, keepalives giving up).
        for (;;) {
          const bool readable = co_await wait(false);
          if (!readable || PQconsumeInput(raw) != 1) break;
          while (PGnotify* note = PQnotifies(raw)) {
            state->handlers.notified(note->extra ? note->extra : "");
            PQfreemem(note);
          }
          if (PQstatus(raw) != CONNECTION_OK) break;
        }
        state->handlers.listening(false);
      }
      state->connection = nullptr;
    }
    if (state->stopped) break;
    // Not listening: wait a little and connect again (a fresh failure waits longer).
    state->pause.emplace(executor, listened ? kFirstRetry : retry);
    co_await state->pause->async_wait(net::as_tuple(net::use_awaitable));
    state->pause.reset();
    if (!listened) retry = std::min(retry * 2, std::chrono::milliseconds(kLongestRetry));
  }
}

}  // namespace authd::db
