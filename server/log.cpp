#include "server/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace authd::server {
namespace {

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return text;
}

// One write() per line so lines from several threads never interleave.
void write_line(std::string line) {
  line += '\n';
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

void Logger::request(const RequestLogEntry& e) const {
  const double ms = std::chrono::duration<double, std::milli>(e.duration).count();
  if (json_) {
    boost::json::object line;
    line["time"] = timestamp();
    line["level"] = "info";
    line["msg"] = "request";
    line["request_id"] = e.request_id;
    line["method"] = e.method;
    line["route"] = e.route;
    line["status"] = e.status;
    line["duration_ms"] = static_cast<double>(static_cast<long long>(ms * 1000)) / 1000;
    line["peer"] = e.peer;
    write_line(boost::json::serialize(line));
    return;
  }
  char text[384];
  std::snprintf(text, sizeof(text),
                "%s info request id=%.*s method=%.*s route=%.*s status=%d "
                "duration_ms=%.3f peer=%.*s",
                timestamp().c_str(), static_cast<int>(e.request_id.size()), e.request_id.data(),
                static_cast<int>(e.method.size()), e.method.data(),
                static_cast<int>(e.route.size()), e.route.data(), e.status, ms,
                static_cast<int>(e.peer.size()), e.peer.data());
  write_line(text);
}

void Logger::event(std::string_view level, std::string_view message) const {
  if (json_) {
    boost::json::object line;
    line["time"] = timestamp();
    line["level"] = level;
    line["msg"] = message;
    write_line(boost::json::serialize(line));
    return;
  }
  write_line(timestamp() + " " + std::string(level) + " " + std::string(message));
}

}  // namespace authd::server
