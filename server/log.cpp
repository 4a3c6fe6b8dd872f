#include "server/log.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <utility>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace authd::server {
namespace {

// Appends value as exactly `width` decimal digits.
void append_digits(std::string& out, std::uint64_t value, int width) {
  char digits[20];
  for (int i = width - 1; i >= 0; --i, value /= 10) digits[i] = static_cast<char>('0' + value % 10);
  out.append(digits, static_cast<std::size_t>(width));
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

// RFC 3339 UTC with milliseconds; the part up to the seconds is formatted once a second per
// thread, since every request line starts with it.
void append_timestamp(std::string& out) {
  thread_local std::time_t cached_second = -1;
  thread_local char prefix[24];
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  if (seconds != cached_second) {
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    std::strftime(prefix, sizeof(prefix), "%Y-%m-%dT%H:%M:%S", &utc);
    cached_second = seconds;
  }
  out.append(prefix);
  out.push_back('.');
  append_digits(out, static_cast<std::uint64_t>(millis), 3);
  out.push_back('Z');
}

std::string timestamp() {
  std::string text;
  append_timestamp(text);
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

void Logger::append(std::string_view line, bool urgent) const {
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + line.size() + 1 > kMaxPending) {
      ++dropped_;
      return;
    }
    pending_ += line;
    pending_ += '\n';
    // Request lines wait for the writer's next round: waking it per line would cost a futex
    // call per request.
    if (!urgent && pending_.size() < kWakeAt) return;
    wake_now_ = true;
  }
  wake_.notify_one();
}

void Logger::write_loop() {
  (void)::pthread_setname_np(::pthread_self(), "authd-log");
  std::string batch;
  for (;;) {
    std::uint64_t dropped = 0;
    bool stop = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kWriteEvery, [this] { return stopping_ || wake_now_; });
      wake_now_ = false;
      if (pending_.empty() && dropped_ == 0 && !stopping_) continue;
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
    append(boost::json::serialize(line), false);
    return;
  }
  // Formatted by hand: printf's float formatting was a visible share of a request's cost.
  const auto micros = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(e.duration).count()));
  std::string text;
  text.reserve(160);
  append_timestamp(text);
  text.append(" info request id=");
  text.append(e.request_id);
  text.append(" method=");
  text.append(e.method);
  text.append(" route=");
  text.append(e.route);
  text.append(" status=");
  append_number(text, static_cast<std::uint64_t>(std::max(0, e.status)));
  text.append(" duration_ms=");
  append_number(text, micros / 1000);
  text.push_back('.');
  append_digits(text, micros % 1000, 3);
  text.append(" peer=");
  text.append(e.peer);
  append(text, false);
}

void Logger::event(std::string_view level, std::string_view message) const {
  if (json_) {
    boost::json::object line;
    line["time"] = timestamp();
    line["level"] = level;
    line["msg"] = message;
    append(boost::json::serialize(line), true);
    return;
  }
  append(timestamp() + " " + std::string(level) + " " + std::string(message), true);
}

}  // namespace authd::server
