#include "backup/restore.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <functional>
#include <tuple>

#include <pqxx/except>
#include <pqxx/stream_to>
#include <pqxx/transaction>

#include "auth/password.hpp"
#include "auth/validation.hpp"
#include "backup/csv.hpp"
#include "db/statements.hpp"

namespace authd::backup {
namespace {

namespace sql = db::sql;
// The original six columns, then the second factor's two; files of the first six alone (from
// before the second factor) restore too.
const std::vector<std::string> kHeader = {"id",   "username",   "email",       "password_hash",
                                          "role", "created_at", "totp_secret", "recovery_codes"};
constexpr std::size_t kOriginalColumns = 6;

bool known_header(const std::vector<std::string>& header) {
  return header.size() == kHeader.size() ||
         (header.size() == kOriginalColumns &&
          std::equal(header.begin(), header.end(), kHeader.begin()));
}

bool sealed_shape(std::string_view text) {
  // "v1:<8 hex>:<hex>" as mfa::Keyring seals; opened only where the key is.
  if (!text.starts_with("v1:") || text.size() < 3 + 8 + 1 + 2 * 28 || text[11] != ':') return false;
  return std::all_of(text.begin() + 3, text.end(), [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || ch == ':';
  });
}

// Reads the file record by record; calls on_row for each data row after the header.
void read_rows(const std::string& path,
               const std::function<void(std::vector<std::string>&, std::size_t line)>& on_row) {
  std::size_t columns = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RestoreError(path + ": cannot be read");
  CsvReader reader;
  std::vector<char> buffer(1 << 20);
  bool header_seen = false;
  const auto drain = [&] {
    for (;;) {
      const std::size_t line = reader.line();
      auto record = reader.next_record();
      if (!record) return;
      if (!header_seen) {
        if (!known_header(*record) || (record->size() == kHeader.size() && *record != kHeader)) {
          throw RestoreError(path + " line 1: the header must be " +
                             "id,username,email,password_hash,role,created_at" +
                             " (optionally followed by ,totp_secret,recovery_codes)");
        }
        columns = record->size();
        header_seen = true;
        continue;
      }
      if (record->size() != columns) {
        throw RestoreError(path + " line " + std::to_string(line) + ": expected " +
                           std::to_string(columns) + " fields, found " +
                           std::to_string(record->size()));
      }
      // A file of six columns: no second factors.
      record->resize(kHeader.size());
      on_row(*record, line);
    }
  };
  try {
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      reader.feed(std::string_view(buffer.data(), static_cast<std::size_t>(in.gcount())));
      drain();
    }
    reader.finish();
    drain();
  } catch (const CsvError& e) {
    throw RestoreError(path + " " + e.what());
  }
  if (!header_seen) throw RestoreError(path + ": the file is empty");
}

void check_row(const std::vector<std::string>& row, std::size_t line, const std::string& path) {
  const auto refuse = [&](const std::string& why) {
    throw RestoreError(path + " line " + std::to_string(line) + ": " + why);
  };
  if (row.size() != kHeader.size()) refuse("the row has the wrong number of fields");
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(row[0].data(), row[0].data() + row[0].size(), id);
  if (ec != std::errc{} || end != row[0].data() + row[0].size() || id <= 0) {
    refuse("id is not a positive integer");
  }
  if (auto problem = auth::check_username(row[1])) refuse("username: " + problem->detail);
  if (auto problem = auth::check_email(row[2])) refuse("email: " + problem->detail);
  if (!auth::parse_phc(row[3])) refuse("password_hash is not a PBKDF2-SHA256 PHC string");
  if (row[4] != "user" && row[4] != "admin") refuse("role must be user or admin");
  if (row[5].size() < 10 || row[5].size() > 40) refuse("created_at is not a timestamp");
  if (!row[6].empty() && !sealed_shape(row[6])) refuse("totp_secret is not a sealed secret");
  if (!row[7].empty() && row[6].empty()) refuse("recovery_codes without a totp_secret");
  for (char ch : row[7]) {
    const bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || ch == ':' || ch == ' ';
    if (!ok) refuse("recovery_codes are not code hashes");
  }
}

}  // namespace

RestoreResult restore(pqxx::connection& c, const std::string& path, const ProgressFn& progress,
                      std::optional<audit::Event> event) {
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  // First pass: every row is checked before the database is touched.
  std::int64_t rows = 0;
  read_rows(path, [&](std::vector<std::string>& row, std::size_t line) {
    check_row(row, line, path);
    ++rows;
  });

  pqxx::work tx(c);
  tx.exec(std::string(sql::kCreateRestoreTable.text));
  try {
    pqxx::stream_to stream(tx, "restore_users");
    std::int64_t loaded = 0;
    read_rows(path, [&](std::vector<std::string>& row, std::size_t) {
      stream << std::make_tuple(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7]);
      if (progress && ++loaded % 50000 == 0) progress({loaded, 0, elapsed(), false});
    });
    stream.complete();
  } catch (const pqxx::data_exception&) {
    throw RestoreError("nothing restored: a created_at value is not a valid timestamp");
  }
  const auto clash = tx.exec(std::string(sql::kFirstRestoreClash.text));
  if (!clash.empty()) {
    throw RestoreError("nothing restored: the row with id " + clash[0][0].as<std::string>() +
                       " (username '" + clash[0][1].as<std::string>() +
                       "') clashes with an existing user's id, username or email");
  }
  try {
    tx.exec(std::string(sql::kInsertRestored.text));
  } catch (const pqxx::unique_violation&) {
    throw RestoreError(
        "nothing restored: the file has two rows with the same id, username or "
        "email");
  }
  tx.exec(std::string(sql::kInsertRestoredTotp.text));
  tx.exec(std::string(sql::kInsertRestoredCodes.text));
  tx.exec(std::string(sql::kMoveUserIds.text));
  if (event) {
    event->detail = {{"rows", rows}};
    audit::insert(tx, {*event});
  }
  tx.commit();
  if (progress) progress({rows, 0, elapsed(), true});
  return {rows, elapsed()};
}

}  // namespace authd::backup
