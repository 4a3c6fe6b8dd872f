#pragma once

#include <chrono>
#include <string_view>

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

class Logger {
 public:
  explicit Logger(bool json) : json_(json) {}
  void request(const RequestLogEntry& entry) const;
  // Start-up, shutdown and failures: level is "info", "warn" or "error".
  void event(std::string_view level, std::string_view message) const;

 private:
  bool json_;
};

}  // namespace authd::server
