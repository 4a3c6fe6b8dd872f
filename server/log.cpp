#include "server/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <utility>

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

void write_all(std::string_view rest) {
  while (!rest.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

Logger::Logger(bool json) : json_(json), writer_([this] { write_loop(); }) {}

Logger::~Logger() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

void Logger::append(std::string line) const {
  line += '\n';
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + line.size() > kMaxPending) {
      ++dropped_;
      return;
    }
    const bool was_empty = pending_.empty();
    pending_ += line;
    if (!was_empty) return;  // the writer is already awake or will find it
  }
  wake_.notify_one();
}

void Logger::write_loop() {
  std::string batch;
  for (;;) {
    std::uint64_t dropped = 0;
    bool stop = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      batch.swap(pending_);
      dropped = std::exchange(dropped_, 0);
      stop = stopping_ && batch.empty();
    }
    if (dropped > 0) {
      const std::string message =
          std::to_string(dropped) + " log lines dropped: stdout is not keeping up";
      batch += json_ ? "{\"time\":\"" + timestamp() + "\",\"level\":\"warn\",\"msg\":\"" + message +
                           "\"}\n"
                     : timestamp() + " warn " + message + "\n";
    }
    write_all(batch);
    batch.clear();
    if (stop) return;
  }
}

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
    append(boost::json::serialize(line));
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
  append(text);
}

void Logger::event(std::string_view level, std::string_view message) const {
  if (json_) {
    boost::json::object line;
    line["time"] = timestamp();
    line["level"] = level;
    line["msg"] = message;
    append(boost::json::serialize(line));
    return;
  }
  append(timestamp() + " " + std::string(level) + " " + std::string(message));
}

}  // namespace authd::server
