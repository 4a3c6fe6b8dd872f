#pragma once

#include <optional>

#include "audit/audit.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <pqxx/connection>

#include "backup/backups.hpp"

namespace authd::backup {

// The file cannot be imported; the message names the file and the line ("FILE line N: why"),
// never a password or a hash.
class ImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ImportFormat { csv, jsonl };

struct ImportResult {
  std::int64_t rows = 0;
  double seconds = 0;
};

// Loads users from another system, all or nothing, in one transaction: every row is checked
// (username, email, password hash and its bounds, role, created_at, email_verified), and so are
// duplicates within the file and against the users already there (case-insensitively); the first
// bad row is named and nothing is loaded. Imported users get new ids; a created_at without a time
// zone is UTC, a missing one now.
//
// CSV: a header naming username, email and password_hash or password; role, created_at and
// email_verified are read when present, other columns ignored (the original service's dump,
// id,username,email,password,created_at, imports as it is). JSON lines: one object per line with
// the same fields; line 1 is the file's first line.
// With an event, the audit trail records the import (its row count) in its transaction.
ImportResult import_users(pqxx::connection& c, const std::string& path, ImportFormat format,
                          const ProgressFn& progress = {},
                          std::optional<audit::Event> event = std::nullopt);

// Whether PostgreSQL reads text as a timestamp the same way everywhere: YYYY-MM-DD, optionally
// followed by 'T' or ' ', HH:MM[:SS[.fraction]] and Z or an offset (+HH, +HHMM, +HH:MM).
bool import_timestamp_valid(std::string_view text);

}  // namespace authd::backup
