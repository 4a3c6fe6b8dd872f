#include "backup/backups.hpp"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include <libpq-fe.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "db/cancel.hpp"
#include "db/conninfo.hpp"
#include "db/digest.hpp"
#include "db/statements.hpp"

namespace authd::backup {
namespace {

namespace sql = db::sql;
constexpr std::int64_t kBackupLock = 0x61757468640002;
constexpr std::size_t kChunkBytes = 1 << 20;

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
using PgResult = std::unique_ptr<PGresult, PgResultCloser>;

// Removes a file on scope exit unless released: nothing half-written stays behind.
class FileGuard {
 public:
  explicit FileGuard(std::string path) : path_(std::move(path)) {}
  ~FileGuard() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw BackupStorageFailed(std::string("backup: writing the file failed") + ": " +
                                std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0)
    throw BackupStorageFailed("backup: cannot open the file to sync it: " +
                              std::string(std::strerror(errno)));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    throw BackupStorageFailed(std::string("backup: fsync failed") + ": " + std::strerror(errno));
}

using Clock = std::chrono::steady_clock;

// The backup directory, made 0700 when it does not exist (its parents as the umask says).
void ensure_directory(const std::string& dir) {
  const std::filesystem::path path(dir);
  if (std::filesystem::is_directory(path)) return;
  if (path.has_parent_path() && !path.parent_path().empty()) {
    std::filesystem::create_directories(path.parent_path());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw BackupStorageFailed(std::string("backup: cannot create the backup directory") + ": " +
                              std::strerror(errno));
  }
}

// A new file only: never an existing one, never through a symbolic link, readable by the owner
// alone whatever the umask.
int create_private_file(const std::string& path) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0)
    throw BackupStorageFailed(std::string("backup: cannot create a file in the backup directory") +
                              ": " + std::strerror(errno));
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
    ::close(fd);
    ::unlink(path.c_str());
    throw BackupStorageFailed(std::string("backup: cannot set the file's mode") + ": " +
                              std::strerror(errno));
  }
  return fd;
}

// Moves the finished file to its name, never replacing anything there (a file, or a link
// someone planted): rename(2) would replace it.
void publish(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return;
  if (errno == EINVAL || errno == ENOSYS) {  // a file system without RENAME_NOREPLACE
    if (::link(from.c_str(), to.c_str()) == 0) {
      ::unlink(from.c_str());
      return;
    }
  }
  throw BackupStorageFailed(std::string("backup: cannot move the file into place") + ": " +
                            std::strerror(errno));
}

// A name this service wrote: nothing that reaches outside the directory or names a temporary.
bool plain_file_name(const std::string& name) {
  return !name.empty() && name.front() != '.' && name.find('/') == std::string::npos;
}

[[noreturn]] void give_up(PGconn* conn) {
  db::cancel_in_background(conn);
  throw BackupTimedOut("backup: ran past AUTHD_BACKUP_TIMEOUT and was cancelled");
}

// Waits until the socket can be read (or written), or gives up at the deadline.
void wait_socket(PGconn* conn, bool write, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) give_up(conn);
    pollfd look{PQsocket(conn), static_cast<short>(write ? POLLOUT : POLLIN), 0};
    const int ready =
        ::poll(&look, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (ready > 0) return;
    if (ready < 0 && errno != EINTR) throw db::DatabaseUnavailable("backup: poll failed");
  }
}

// Waits until libpq has a whole result to give (or the COPY data asked for); during names the
// step in the error, so a broken COPY says so however the break shows first.
void await_input(PGconn* conn, Clock::time_point deadline, std::string_view during = {}) {
  wait_socket(conn, false, deadline);
  if (PQconsumeInput(conn) == 0) {
    throw db::DatabaseUnavailable("backup: lost the connection to PostgreSQL" +
                                  std::string(during));
  }
}

// Sends one query on the nonblocking connection and returns its first result.
PgResult query(PGconn* conn, std::string_view text, Clock::time_point deadline) {
  if (PQsendQuery(conn, std::string(text).c_str()) == 0) {
    throw db::DatabaseUnavailable("backup: lost the connection to PostgreSQL");
  }
  for (;;) {
    const int flushed = PQflush(conn);
    if (flushed == 0) break;
    if (flushed < 0) throw db::DatabaseUnavailable("backup: lost the connection to PostgreSQL");
    wait_socket(conn, true, deadline);
  }
  while (PQisBusy(conn) != 0) await_input(conn, deadline);
  return PgResult(PQgetResult(conn));
}

// Reads what remains of a statement's results, so the next one may be sent.
void finish_results(PGconn* conn, Clock::time_point deadline) {
  for (;;) {
    while (PQisBusy(conn) != 0) await_input(conn, deadline);
    PgResult rest(PQgetResult(conn));
    if (!rest) return;
  }
}

std::string file_name() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &utc);
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%06x", random() & 0xffffff);
  return std::string("users-") + stamp + "-" + suffix + ".csv";
}

BackupInfo from_row(const pqxx::row& row) {
  BackupInfo info;
  info.id = row[0].as<std::int64_t>();
  info.file = row[1].as<std::string>();
  info.rows = row[2].as<std::int64_t>();
  info.bytes = row[3].as<std::int64_t>();
  info.sha256 = row[4].as<std::string>();
  info.created_at = row[5].as<std::string>();
  info.duration_ms = row[6].as<std::int64_t>();
  return info;
}

}  // namespace

std::string to_json(const BackupInfo& info) {
  return boost::json::serialize(boost::json::object{{"id", info.id},
                                                    {"file", info.file},
                                                    {"rows", info.rows},
                                                    {"bytes", info.bytes},
                                                    {"sha256", info.sha256},
                                                    {"created_at", info.created_at},
                                                    {"duration_ms", info.duration_ms}});
}

BackupService::BackupService(std::string database_url, std::string backup_dir,
                             BackupOptions options)
    : database_url_(std::move(database_url)),
      backup_dir_(std::move(backup_dir)),
      options_(std::move(options)) {
  if (options_.timeout.count() <= 0) options_.timeout = std::chrono::seconds(600);
}

std::string BackupService::path_of(const BackupInfo& info) const {
  return backup_dir_ + "/" + info.file;
}

BackupInfo BackupService::create(pqxx::connection& metadata, const ProgressFn& progress,
                                 std::optional<audit::Event> event) {
  std::unique_lock local(running_, std::try_to_lock);
  if (!local) throw BackupInProgress("another backup is being written");
  {
    pqxx::nontransaction tx(metadata);
    const auto got = tx.exec_params(std::string(sql::kTryAdvisoryLock.text), kBackupLock);
    if (!got[0][0].as<bool>()) throw BackupInProgress("another instance is writing a backup");
  }
  const auto unlock = [&metadata] {
    try {
      pqxx::nontransaction tx(metadata);
      tx.exec_params(std::string(sql::kAdvisoryUnlock.text), kBackupLock);
    } catch (const std::exception&) {
      // A broken connection has released the lock with its session.
    }
  };
  const auto started = std::chrono::steady_clock::now();
  try {
    BackupInfo written = write_file(progress, started + options_.timeout);
    const std::string path = path_of(written);
    FileGuard remove_unless_recorded(path);
    const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
    BackupInfo recorded;
    {
      // Closed before unlock(): libpqxx allows one transaction per connection at a time.
      pqxx::work tx(metadata);
      recorded = from_row(tx.exec_params1(std::string(sql::kInsertBackup.text), written.file,
                                          written.rows, written.bytes, written.sha256,
                                          static_cast<std::int64_t>(duration)));
      if (event) {
        event->detail = {
            {"backup_id", recorded.id}, {"rows", recorded.rows}, {"file", recorded.file}};
        audit::insert(tx, {*event});
      }
      tx.commit();
    }
    remove_unless_recorded.release();
    // Still under the lock: two instances never prune at once.
    if (options_.keep > 0) remove_beyond_keep(metadata);
    unlock();
    ++made_;
    return recorded;
  } catch (...) {
    unlock();
    ++failed_;
    throw;
  }
}

void BackupService::remove_beyond_keep(pqxx::connection& metadata) {
  try {
    std::vector<std::pair<std::int64_t, std::string>> old;
    {
      pqxx::nontransaction tx(metadata);
      for (const auto& row : tx.exec_params(std::string(sql::kBackupsBeyond.text),
                                            static_cast<std::int64_t>(options_.keep))) {
        old.emplace_back(row[0].as<std::int64_t>(), row[1].as<std::string>());
      }
    }
    for (const auto& [id, file] : old) {
      // File first: a row whose file is gone is reported (410); a file without a row is lost.
      if (plain_file_name(file) && ::unlink((backup_dir_ + "/" + file).c_str()) != 0 &&
          errno != ENOENT) {
        continue;  // kept, row and all, for the next backup to try again
      }
      pqxx::nontransaction tx(metadata);
      tx.exec_params(std::string(sql::kDeleteBackup.text), id);
    }
  } catch (const pqxx::failure&) {
    // The backup itself is written and recorded; the next one removes what is left.
  }
}

BackupInfo BackupService::write_file(const ProgressFn& progress, Clock::time_point deadline) {
  ensure_directory(backup_dir_);
  PgConn conn(db::connect_with_defaults(database_url_));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    throw db::DatabaseUnavailable("backup: cannot connect to PostgreSQL");
  }
  // Nonblocking, so a COPY that waits (a lock, a silent network) gives up at the deadline.
  if (PQsetnonblocking(conn.get(), 1) != 0) {
    throw db::DatabaseUnavailable("backup: cannot set up the connection");
  }
  // One snapshot for the whole COPY.
  PgResult begin = query(conn.get(), sql::kBeginSnapshot.text, deadline);
  if (PQresultStatus(begin.get()) != PGRES_COMMAND_OK) {
    throw db::DatabaseUnavailable("backup: cannot start the snapshot");
  }
  finish_results(conn.get(), deadline);
  PgResult copy = query(conn.get(), sql::kDumpUsers.text, deadline);
  if (PQresultStatus(copy.get()) != PGRES_COPY_OUT) {
    throw db::DatabaseUnavailable("backup: COPY did not start");
  }

  const std::string name = options_.file_name ? options_.file_name() : file_name();
  if (!plain_file_name(name)) throw std::logic_error("backup: not a plain file name");
  const std::string temp = backup_dir_ + "/." + name + ".tmp";
  const int fd = create_private_file(temp);
  FileGuard remove_temp(temp);
  std::unique_ptr<int, void (*)(int*)> close_fd(new int(fd), [](int* f) {
    ::close(*f);
    delete f;
  });

  db::Sha256 digest;
  std::string chunk;
  chunk.reserve(kChunkBytes + 65536);
  std::int64_t messages = 0;
  std::int64_t bytes = 0;
  const auto started = std::chrono::steady_clock::now();
  auto last_report = started;
  off_t written = 0;
  const auto flush = [&] {
    digest.update(chunk.data(), chunk.size());
    write_all(fd, chunk);
    // Start writing this chunk to disk now, so the final fsync finds little left to do.
    // Only a hint: where it is not supported, fsync does all the work.
    (void)::sync_file_range(fd, written, static_cast<off_t>(chunk.size()), SYNC_FILE_RANGE_WRITE);
    written += static_cast<off_t>(chunk.size());
    chunk.clear();
  };
  for (;;) {
    char* data = nullptr;
    const int n = PQgetCopyData(conn.get(), &data, 1);
    if (n == 0) {  // nothing whole yet
      await_input(conn.get(), deadline, " during the COPY");
      continue;
    }
    if (n > 0) {
      // PostgreSQL sends one CopyData message per CSV line: the header, then one per user.
      chunk.append(data, static_cast<std::size_t>(n));
      PQfreemem(data);
      ++messages;
      bytes += n;
      if (chunk.size() >= kChunkBytes) {
        flush();
        const auto now = std::chrono::steady_clock::now();
        if (progress && now - last_report > std::chrono::milliseconds(500)) {
          last_report = now;
          progress(
              {messages - 1, bytes, std::chrono::duration<double>(now - started).count(), false});
        }
      }
      continue;
    }
    if (n == -1) break;
    throw db::DatabaseUnavailable("backup: the COPY stream broke off");
  }
  while (PQisBusy(conn.get()) != 0) await_input(conn.get(), deadline, " at the end of the COPY");
  PgResult end(PQgetResult(conn.get()));
  if (PQresultStatus(end.get()) != PGRES_COMMAND_OK) {
    throw db::DatabaseUnavailable("backup: COPY did not complete");
  }
  flush();
  if (::fsync(fd) != 0)
    throw BackupStorageFailed(std::string("backup: fsync failed") + ": " + std::strerror(errno));
  close_fd.reset();

  const db::Sha256Digest sum = digest.finish();
  const std::string final_path = backup_dir_ + "/" + name;
  publish(temp, final_path);
  remove_temp.release();
  FileGuard remove_final(final_path);
  fsync_path(backup_dir_, O_RDONLY | O_DIRECTORY);
  remove_final.release();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (progress) progress({messages - 1, bytes, seconds, true});
  BackupInfo info;
  info.file = name;
  info.rows = std::max<std::int64_t>(messages - 1, 0);
  info.bytes = bytes;
  info.sha256 = db::to_hex(sum);
  return info;
}

std::vector<BackupInfo> BackupService::list(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  std::vector<BackupInfo> out;
  for (const auto& row : tx.exec_prepared(std::string(sql::kListBackups.name))) {
    out.push_back(from_row(row));
  }
  return out;
}

std::optional<BackupInfo> BackupService::latest(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  const auto result = tx.exec_prepared(std::string(sql::kLatestBackup.name));
  if (result.empty()) return std::nullopt;
  return from_row(result[0]);
}

std::optional<BackupInfo> BackupService::find(pqxx::connection& c, std::int64_t id) {
  pqxx::nontransaction tx(c);
  const auto result = tx.exec_prepared(std::string(sql::kBackupById.name), id);
  if (result.empty()) return std::nullopt;
  return from_row(result[0]);
}

}  // namespace authd::backup
