#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "db/async_db.hpp"

// PostgreSQL LISTEN on a connection an event loop drives: no thread per notification, the
// socket waited on like any other. The connection is opened like AsyncDb's (on its opener
// thread, with keepalives); when it is lost, listening(false) is called at once and the
// listener connects again until it listens again (listening(true)).
namespace authd::db {

namespace net = boost::asio;

class NotificationListener {
 public:
  struct Handlers {
    std::function<void(std::string_view payload)> notified;
    // false: notifications may be missed from now on; true: listening (again).
    std::function<void(bool listening)> listening;
  };

  NotificationListener(AsyncDb& db, std::string channel, Handlers handlers);
  ~NotificationListener();
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

  // Starts listening on executor's loop; runs until stop().
  void start(const net::any_io_executor& executor);
  // From any thread: the connection is closed and the loop's coroutine ends.
  void stop();

 private:
  struct State;
  static net::awaitable<void> run(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace authd::db
