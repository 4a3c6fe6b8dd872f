#pragma once

#include <optional>

#include "audit/audit.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

#include <pqxx/connection>

#include "backup/backups.hpp"

namespace authd::backup {

// The file cannot be restored; the message says why and names the line or row.
class RestoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RestoreResult {
  std::int64_t rows = 0;
  double seconds = 0;
};

// Checks every row of a backup CSV, then loads them all in one transaction, keeping ids, roles
// and creation times. A clash with an existing user (id, or username or email case-insensitively)
// loads nothing.
// With an event, the audit trail records the restore in its transaction.
RestoreResult restore(pqxx::connection& c, const std::string& path,
                      const ProgressFn& progress = {},
                      std::optional<audit::Event> event = std::nullopt);

}  // namespace authd::backup
