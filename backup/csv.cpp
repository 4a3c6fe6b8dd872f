#include "backup/csv.hpp"

namespace authd::backup {

void CsvReader::feed(std::string_view chunk) {
  // Drop what has been consumed before growing the buffer.
  if (offset_ > 0) {
    pending_.erase(0, offset_);
    offset_ = 0;
  }
  pending_.append(chunk);
}

void CsvReader::finish() {
  finished_ = true;
}

std::optional<std::vector<std::string>> CsvReader::next_record() {
  std::vector<std::string> record;
  if (!parse_one(record, finished_)) return std::nullopt;
  return record;
}

bool CsvReader::parse_one(std::vector<std::string>& out, bool at_end) {
  const std::string_view text = std::string_view(pending_).substr(offset_);
  if (text.empty()) return false;
  std::string field;
  bool quoted = false;
  bool after_quote = false;  // a quoted field just closed: only , or a newline may follow
  std::size_t newlines = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i > kMaxRecordBytes) {
      throw CsvError("line " + std::to_string(record_line_) + ": a record longer than 1 MiB");
    }
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 >= text.size() && !at_end) return false;  // "" may straddle chunks
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++newlines;
        field += c;
      }
      continue;
    }
    if (c == ',') {
      out.push_back(std::move(field));
      field.clear();
      after_quote = false;
      continue;
    }
    if (c == '\n' || c == '\r') {
      std::size_t end = i + 1;
      if (c == '\r') {
        if (end >= text.size() && !at_end) return false;
        if (end < text.size() && text[end] == '\n') ++end;
      }
      out.push_back(std::move(field));
      offset_ += end;
      record_line_ += newlines + 1;
      return true;
    }
    if (after_quote) {
      throw CsvError("line " + std::to_string(record_line_ + newlines) +
                     ": unexpected character after a closing quote");
    }
    if (c == '"') {
      if (!field.empty()) {
        throw CsvError("line " + std::to_string(record_line_ + newlines) +
                       ": a quote inside an unquoted field");
      }
      quoted = true;
      continue;
    }
    field += c;
  }
  if (!at_end) return false;
  if (quoted) {
    throw CsvError("line " + std::to_string(record_line_) +
                   ": the file ends inside a quoted field");
  }
  out.push_back(std::move(field));
  offset_ = pending_.size();
  record_line_ += newlines + 1;
  return true;
}

std::string csv_quote(std::string_view field) {
  if (!field.empty() && field.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(field);
  }
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace authd::backup
