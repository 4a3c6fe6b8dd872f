#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authd::backup {

// Input that is not PostgreSQL CSV; the message names the line.
class CsvError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads PostgreSQL's CSV (COPY ... WITH (FORMAT csv)) fed in chunks of any size: ',' between
// fields, '\n' or "\r\n" between records, '"' quoting with "" for a quote inside; quoted fields
// may hold newlines. Memory stays bounded: one record at most kMaxRecordBytes.
class CsvReader {
 public:
  static constexpr std::size_t kMaxRecordBytes = 1 << 20;

  void feed(std::string_view chunk);
  // The next complete record, if one has been fed.
  std::optional<std::vector<std::string>> next_record();
  // End of input: a last record without a trailing newline becomes available; throws when the
  // input ends inside a quoted field.
  void finish();
  // The line where the next record starts (1-based).
  std::size_t line() const { return record_line_; }

 private:
  bool parse_one(std::vector<std::string>& out, bool at_end);

  std::string pending_;
  std::size_t offset_ = 0;
  bool finished_ = false;
  std::size_t record_line_ = 1;
};

// Quotes a field as PostgreSQL does when it must: with , " \r \n inside, or empty.
std::string csv_quote(std::string_view field);

}  // namespace authd::backup
