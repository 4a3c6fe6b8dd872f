#pragma once

#include "audit/audit.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "db/errors.hpp"

namespace authd::backup {

struct BackupInfo {
  std::int64_t id = 0;
  std::string file;  // name inside the backup directory
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  std::string sha256;  // lower-case hex
  std::string created_at;
  std::int64_t duration_ms = 0;
};

// {"id","file","rows","bytes","sha256","created_at","duration_ms"}
std::string to_json(const BackupInfo& info);

struct Progress {
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  double seconds = 0;
  bool done = false;
};
using ProgressFn = std::function<void(const Progress&)>;

// Another backup is being written, here or by another instance sharing the database.
class BackupInProgress : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The backup ran past BackupOptions::timeout: its COPY was cancelled and nothing was left.
class BackupTimedOut : public db::DatabaseUnavailable {
 public:
  using db::DatabaseUnavailable::DatabaseUnavailable;
};

// The backup directory refused the file (full, read-only, gone): infrastructure, not a bug. The
// partial file is removed; the message names the step and errno's text, never a path's contents.
class BackupStorageFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BackupOptions {
  // Backups kept: after a successful one the oldest beyond this go, file then row (0: all kept).
  std::size_t keep = 30;
  // A backup still running after this is cancelled and leaves nothing.
  std::chrono::seconds timeout{600};
  // The new file's name; unset: users-<UTC time>-<random>.csv. (Tests choose it.)
  std::function<std::string()> file_name;
};

// Writes backups: PostgreSQL produces the CSV with COPY on a connection of the backup's own, and
// the file appears whole or not at all, mode 0600, never through a symbolic link. Blocking: run
// it on a thread of its own; it gives up at its own deadline.
class BackupService {
 public:
  BackupService(std::string database_url, std::string backup_dir, BackupOptions options = {});

  // metadata: where the backups row goes (and the lock that keeps instances apart).
  // With an event, the audit trail records the backup (its id, rows and file in the event's
  // detail) in the transaction that records its metadata.
  BackupInfo create(pqxx::connection& metadata, const ProgressFn& progress = {},
                    std::optional<audit::Event> event = std::nullopt);

  static std::vector<BackupInfo> list(pqxx::connection& c);  // newest first
  static std::optional<BackupInfo> latest(pqxx::connection& c);
  static std::optional<BackupInfo> find(pqxx::connection& c, std::int64_t id);

  std::string path_of(const BackupInfo& info) const;
  std::uint64_t made() const { return made_.load(); }
  std::uint64_t failed() const { return failed_.load(); }

 private:
  BackupInfo write_file(const ProgressFn& progress, std::chrono::steady_clock::time_point deadline);
  // Retention; a failure leaves the rest for the next backup.
  void remove_beyond_keep(pqxx::connection& metadata);

  std::string database_url_;
  std::string backup_dir_;
  BackupOptions options_;
  std::mutex running_;
  std::atomic<std::uint64_t> made_{0};
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace authd::backup
