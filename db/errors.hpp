#pragma once

#include <stdexcept>

namespace authd::db {

// PostgreSQL could not be reached or the connection broke: callers answer 503 at once.
class DatabaseUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every connection stayed busy past the caller's deadline, or too many callers were waiting.
class PoolExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace authd::db
