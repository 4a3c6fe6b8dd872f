#include "backup/import.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <pqxx/except>
#include <pqxx/result>
#include <pqxx/stream_to>
#include <pqxx/transaction>

#include "auth/imported_hash.hpp"
#include "auth/validation.hpp"
#include "backup/csv.hpp"
#include "db/statements.hpp"

namespace authd::backup {
namespace {

namespace sql = db::sql;
namespace json = boost::json;

// One user as read from the file, before its checks.
struct ImportRow {
  std::string username, email, password_hash, role, created_at, email_verified;
};

// The first row that cannot be imported: its line and why (never its password or hash).
struct BadRow {
  std::size_t line;
  std::string reason;
};

using RowFn = std::function<void(ImportRow&, std::size_t line, std::uint64_t bytes_read)>;

constexpr std::size_t kMaxLineBytes = CsvReader::kMaxRecordBytes;

// Which column holds each field; npos: absent.
struct Columns {
  static constexpr std::size_t kAbsent = std::numeric_limits<std::size_t>::max();
  std::size_t username = kAbsent, email = kAbsent, password_hash = kAbsent, role = kAbsent,
              created_at = kAbsent, email_verified = kAbsent, count = 0;
};

Columns read_header(std::vector<std::string> header) {
  // A byte-order mark, as spreadsheets write one, is not part of the first name.
  if (!header.empty() && header[0].starts_with("\xEF\xBB\xBF")) header[0].erase(0, 3);
  Columns columns;
  columns.count = header.size();
  std::size_t password = Columns::kAbsent;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (std::count(header.begin(), header.end(), header[i]) > 1) {
      throw BadRow{1, "the header names " + header[i] + " twice"};
    }
    const std::string& name = header[i];
    if (name == "username") columns.username = i;
    if (name == "email") columns.email = i;
    if (name == "password_hash") columns.password_hash = i;
    if (name == "password") password = i;
    if (name == "role") columns.role = i;
    if (name == "created_at") columns.created_at = i;
    if (name == "email_verified") columns.email_verified = i;
  }
  if (columns.password_hash != Columns::kAbsent && password != Columns::kAbsent) {
    throw BadRow{1, "the header names both password_hash and password"};
  }
  if (columns.password_hash == Columns::kAbsent) columns.password_hash = password;
  if (columns.username == Columns::kAbsent || columns.email == Columns::kAbsent ||
      columns.password_hash == Columns::kAbsent) {
    throw BadRow{1, "the header must name username, email and password_hash (or password)"};
  }
  return columns;
}

void read_csv(const std::string& path, const RowFn& on_row) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImportError(path + ": cannot be read");
  CsvReader reader;
  std::vector<char> buffer(1 << 20);
  std::optional<Columns> columns;
  std::uint64_t bytes_read = 0;
  const auto pick = [](std::vector<std::string>& record, std::size_t column) {
    return column == Columns::kAbsent ? std::string() : std::move(record[column]);
  };
  const auto drain = [&] {
    for (;;) {
      const std::size_t line = reader.line();
      std::optional<std::vector<std::string>> record;
      try {
        record = reader.next_record();
      } catch (const CsvError& e) {
        // "line N: why" from the reader.
        const std::string what = e.what();
        const std::size_t colon = what.find(": ");
        throw BadRow{reader.line(), colon == std::string::npos ? what : what.substr(colon + 2)};
      }
      if (!record) return;
      if (!columns) {
        columns = read_header(std::move(*record));
        continue;
      }
      if (record->size() != columns->count) {
        throw BadRow{line, "expected " + std::to_string(columns->count) + " fields, found " +
                               std::to_string(record->size())};
      }
      ImportRow row{pick(*record, columns->username),      pick(*record, columns->email),
                    pick(*record, columns->password_hash), pick(*record, columns->role),
                    pick(*record, columns->created_at),    pick(*record, columns->email_verified)};
      on_row(row, line, bytes_read);
    }
  };
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    bytes_read += got;
    reader.feed(std::string_view(buffer.data(), got));
    drain();
  }
  reader.finish();
  drain();
  if (!columns) throw ImportError(path + ": the file is empty");
}

// A string field of a JSON line: empty when absent or null.
std::string json_text(const json::object& object, std::string_view name, std::size_t line,
                      bool required) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr || value->is_null()) {
    if (required) throw BadRow{line, std::string(name) + " is missing"};
    return {};
  }
  if (!value->is_string()) throw BadRow{line, std::string(name) + " is not a string"};
  return std::string(value->get_string());
}

void read_jsonl(const std::string& path, const RowFn& on_row) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImportError(path + ": cannot be read");
  std::string text;
  std::size_t line = 0;
  std::uint64_t bytes_read = 0;
  while (std::getline(in, text)) {
    ++line;
    bytes_read += text.size() + 1;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    if (text.size() > kMaxLineBytes) throw BadRow{line, "the line is longer than 1 MiB"};
    boost::system::error_code ec;
    json::value value = json::parse(text, ec);
    if (ec || !value.is_object()) throw BadRow{line, "not a JSON object"};
    const json::object& object = value.get_object();
    if (object.contains("password_hash") && object.contains("password")) {
      throw BadRow{line, "both password_hash and password are given"};
    }
    const std::string_view hash_field = object.contains("password") ? "password" : "password_hash";
    ImportRow row{
        json_text(object, "username", line, true),    json_text(object, "email", line, true),
        json_text(object, hash_field, line, true),    json_text(object, "role", line, false),
        json_text(object, "created_at", line, false), {}};
    if (const json::value* verified = object.if_contains("email_verified")) {
      if (verified->is_bool()) {
        row.email_verified = verified->get_bool() ? "true" : "false";
      } else if (!verified->is_null()) {
        throw BadRow{line, "email_verified is not true or false"};
      }
    }
    on_row(row, line, bytes_read);
  }
}

// Case-insensitive spellings of a boolean: PostgreSQL's t/f, Python's True/False, 1/0, yes/no.
std::optional<bool> parse_flag(std::string_view text) {
  const std::string lower = auth::ascii_lower(text);
  if (lower.empty() || lower == "false" || lower == "f" || lower == "0" || lower == "no") {
    return false;
  }
  if (lower == "true" || lower == "t" || lower == "1" || lower == "yes") return true;
  return std::nullopt;
}

// Why the row cannot be imported; on success its role and email_verified are normalised.
std::optional<std::string> check_row(ImportRow& row) {
  if (auto problem = auth::check_username(row.username)) return "username: " + problem->detail;
  if (auto problem = auth::check_email(row.email)) return "email: " + problem->detail;
  if (auto problem = auth::importable_hash_problem(row.password_hash)) {
    return "password hash: " + *problem;
  }
  if (row.role.empty()) row.role = "user";
  if (row.role != "user" && row.role != "admin") return "role must be user or admin";
  if (!row.created_at.empty() && !import_timestamp_valid(row.created_at)) {
    return "created_at is not a timestamp (YYYY-MM-DD[THH:MM[:SS[.fraction]]][Z|+HH:MM])";
  }
  const auto verified = parse_flag(row.email_verified);
  if (!verified) return "email_verified is not true or false";
  row.email_verified = *verified ? "true" : "false";
  return std::nullopt;
}

// Reads digits exactly count long off the front of text.
std::optional<int> take_digits(std::string_view& text, std::size_t count) {
  if (text.size() < count) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  text.remove_prefix(count);
  return value;
}

bool take(std::string_view& text, char ch) {
  if (text.empty() || text.front() != ch) return false;
  text.remove_prefix(1);
  return true;
}

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

std::string message(const std::string& path, std::size_t line, const std::string& reason) {
  return path + " line " + std::to_string(line) + ": " + reason + " (nothing imported)";
}

}  // namespace

bool import_timestamp_valid(std::string_view text) {
  const auto year = take_digits(text, 4);
  if (!year || *year < 1 || !take(text, '-')) return false;
  const auto month = take_digits(text, 2);
  if (!month || *month < 1 || *month > 12 || !take(text, '-')) return false;
  const auto day = take_digits(text, 2);
  if (!day || *day < 1 || *day > days_in_month(*year, *month)) return false;
  if (text.empty()) return true;
  if (!take(text, 'T') && !take(text, ' ')) return false;
  const auto hour = take_digits(text, 2);
  if (!hour || *hour > 23 || !take(text, ':')) return false;
  const auto minute = take_digits(text, 2);
  if (!minute || *minute > 59) return false;
  if (take(text, ':')) {
    const auto second = take_digits(text, 2);
    if (!second || *second > 59) return false;
    if (take(text, '.')) {
      std::size_t digits = 0;
      while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
      if (digits == 0 || digits > 9) return false;
      text.remove_prefix(digits);
    }
  }
  if (text.empty() || text == "Z") return true;
  if (!take(text, '+') && !take(text, '-')) return false;
  const auto offset_hours = take_digits(text, 2);
  if (!offset_hours || *offset_hours > 15) return false;
  if (text.empty()) return true;
  take(text, ':');
  const auto offset_minutes = take_digits(text, 2);
  return offset_minutes && *offset_minutes <= 59 && text.empty();
}

ImportResult import_users(pqxx::connection& c, const std::string& path, ImportFormat format,
                          const ProgressFn& progress, std::optional<audit::Event> event) {
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  pqxx::work tx(c);
  tx.exec(std::string(sql::kImportTimeZone.text));
  tx.exec(std::string(sql::kCreateImportTable.text));

  // One pass: each row is checked and streamed into the temporary table. At the first bad row
  // the stream stops; the rows before it are still checked for duplicates below, so the line
  // named is the first bad one whatever made it bad.
  std::optional<BadRow> bad;
  std::int64_t rows = 0, bytes = 0;
  {
    pqxx::stream_to stream(tx, "import_users");
    const RowFn load = [&](ImportRow& row, std::size_t line, std::uint64_t bytes_read) {
      if (auto reason = check_row(row)) throw BadRow{line, std::move(*reason)};
      stream << std::make_tuple(static_cast<std::int64_t>(line), row.username, row.email,
                                row.password_hash, row.role, row.created_at, row.email_verified);
      ++rows;
      bytes = static_cast<std::int64_t>(bytes_read);
      if (progress && rows % 50000 == 0) progress({rows, bytes, elapsed(), false});
    };
    try {
      if (format == ImportFormat::csv) {
        read_csv(path, load);
      } else {
        read_jsonl(path, load);
      }
    } catch (const BadRow& row) {
      bad = row;
    }
    stream.complete();
  }

  const std::int64_t before =
      bad ? static_cast<std::int64_t>(bad->line) : std::numeric_limits<std::int64_t>::max();
  const pqxx::result clash = tx.exec_params(std::string(sql::kFirstImportClash.text), before);
  if (!clash.empty()) {
    const auto line = clash[0][0].as<std::size_t>();
    const auto first_username = clash[0][1].as<std::size_t>();
    const auto first_email = clash[0][2].as<std::size_t>();
    std::string reason;
    if (first_username < line) {
      reason = "the username is also on line " + std::to_string(first_username) +
               " (usernames are unique case-insensitively)";
    } else if (first_email < line) {
      reason = "the email is also on line " + std::to_string(first_email) +
               " (emails are unique case-insensitively)";
    } else if (clash[0][3].as<bool>()) {
      reason = "an existing user has this username (case-insensitively)";
    } else {
      reason = "an existing user has this email (case-insensitively)";
    }
    throw ImportError(message(path, line, reason));
  }
  if (bad) throw ImportError(message(path, bad->line, bad->reason));

  try {
    tx.exec(std::string(sql::kInsertImported.text));
  } catch (const pqxx::unique_violation&) {
    throw ImportError(path +
                      ": a user with one of these usernames or emails was created meanwhile "
                      "(nothing imported; try again)");
  }
  if (event) {
    event->detail = {{"rows", rows}, {"format", format == ImportFormat::jsonl ? "jsonl" : "csv"}};
    audit::insert(tx, {*event});
  }
  tx.commit();
  if (progress) progress({rows, bytes, elapsed(), true});
  return {rows, elapsed()};
}

}  // namespace authd::backup
