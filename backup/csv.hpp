#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authd::backup {

// Input that is not PostgreSQL CSV; the message starts with "line N: ".
class CsvError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads PostgreSQL's CSV (COPY ... WITH (FORMAT csv)) fed in chunks split at any byte: ','
// between fields, "\n" or "\r\n" after each record, '"' quoting with "" for a quote inside;
// quoted fields may hold newlines. A header line is returned as an ordinary record.
//
// Each byte is scanned once, so feeding many small chunks costs no more than one big one.
// Memory holds the fed bytes not yet scanned plus one record; a record longer than
// kMaxRecordBytes (as written, line end included) is an error. After a CsvError every later
// next_record throws it again.
class CsvReader {
 public:
  static constexpr std::size_t kMaxRecordBytes = 1 << 20;

  // Throws std::logic_error after finish().
  void feed(std::string_view chunk);

  // The next complete record, or nullopt until more input (or finish) completes one. Throws
  // CsvError on malformed input: a quote inside an unquoted field, anything but ',' or a line
  // end after a closing quote, a '\r' outside quotes not followed by '\n', an over-long
  // record, and, after finish(), input that ends inside a quoted field.
  std::optional<std::vector<std::string>> next_record();

  // End of input: a last record without a line end becomes available to next_record, which
  // also reports an unterminated quoted field.
  void finish();

  // The line where the next record starts (1-based); on an error, the line of the record
  // that failed.
  std::size_t line() const { return record_line_; }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted, kCarriageReturn };

  std::vector<std::string> take_record();
  std::optional<std::vector<std::string>> end_of_input();
  [[noreturn]] void fail(std::size_t line, std::string_view why);

  std::string input_;  // fed bytes; those before scanned_ are already parsed
  std::size_t scanned_ = 0;
  State state_ = State::kFieldStart;
  std::vector<std::string> fields_;
  std::string field_;
  std::size_t record_bytes_ = 0;
  std::size_t record_line_ = 1;
  std::size_t line_ = 1;        // the line of the next byte to scan
  std::size_t quote_line_ = 1;  // where the open quoted field began
  bool finished_ = false;
  bool ended_ = false;
  std::string error_;
};

// Quotes a field for CSV when it must be: empty (PostgreSQL's way of telling "" from NULL),
// containing , " \r or \n, or starting or ending with a space; inner quotes are doubled.
std::string csv_quote(std::string_view field);

}  // namespace authd::backup
