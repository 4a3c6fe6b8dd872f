#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace authd::server {

// One line per request on stdout. Only these fields are ever written: never a path, body,
// header value other than the request id, password, token or hash.
struct RequestLogEntry {
  std::string_view request_id;
  std::string_view method;
  std::string_view route;  // the route's name, never the raw path
  int status;
  std::chrono::nanoseconds duration;
  std::string_view peer;
};

// Lines are formatted on the calling thread and written by a thread of the logger's own, so a
// slow stdout (a full pipe, a disk under writeback) never stalls an event-loop thread. Request
// lines are written in batches at least every kWriteEvery. Past
// kMaxPending bytes waiting, lines are dropped and counted rather than blocking.
class Logger {
 public:
  static constexpr std::size_t kMaxPending = 8 << 20;
  static constexpr std::size_t kWakeAt = 64 << 10;  // request lines wake the writer past this
  static constexpr std::chrono::milliseconds kWriteEvery{25};

  explicit Logger(bool json);
  ~Logger();  // writes what is pending
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void request(const RequestLogEntry& entry) const;
  // Start-up, shutdown and failures: level is "info", "warn" or "error".
  void event(std::string_view level, std::string_view message) const;

 private:
  // urgent: start-up, shutdown and failures are written at once.
  void append(std::string_view line, bool urgent) const;
  void write_loop();

  bool json_;
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  mutable std::string pending_;
  mutable std::uint64_t dropped_ = 0;
  mutable bool wake_now_ = false;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace authd::server
