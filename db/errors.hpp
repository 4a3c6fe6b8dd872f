#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace authd::db {

// PostgreSQL could not be reached or the connection broke: callers answer 503 at once.
class DatabaseUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A write was sent and the connection broke (or its deadline passed) before its reply came: it
// may or may not have committed. Callers that can look their row up confirm it; the rest answer
// 503 like any DatabaseUnavailable, never with an error the write did not have.
class OutcomeUnknown : public DatabaseUnavailable {
 public:
  using DatabaseUnavailable::DatabaseUnavailable;
};

// Every connection stayed busy past the caller's deadline, or too many callers were waiting.
class PoolExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A statement failed inside PostgreSQL on an event loop's connection (which stays usable). The
// message carries the SQLSTATE and the server's message, never a parameter.
class StatementError : public std::runtime_error {
 public:
  StatementError(std::string sqlstate, const std::string& message)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

}  // namespace authd::db
