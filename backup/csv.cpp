#include "backup/csv.hpp"

namespace authd::backup {

void CsvReader::feed(std::string_view chunk) {
  if (finished_) throw std::logic_error("CsvReader::feed after finish");
  // Drop the scanned prefix before growing, so the buffer never holds parsed bytes twice.
  input_.erase(0, scanned_);
  scanned_ = 0;
  input_.append(chunk);
}

void CsvReader::finish() {
  finished_ = true;
}

std::optional<std::vector<std::string>> CsvReader::next_record() {
  if (!error_.empty()) throw CsvError(error_);
  while (scanned_ < input_.size()) {
    const char c = input_[scanned_++];
    if (++record_bytes_ > kMaxRecordBytes) {
      fail(record_line_, "a record longer than " + std::to_string(kMaxRecordBytes) + " bytes");
    }
    switch (state_) {
      case State::kFieldStart:
        if (c == '"') {
          state_ = State::kQuoted;
          quote_line_ = line_;
          break;
        }
        [[fallthrough]];
      case State::kUnquoted:
        state_ = State::kUnquoted;
        if (c == ',') {
          fields_.push_back(std::move(field_));
          field_.clear();
          state_ = State::kFieldStart;
        } else if (c == '\n') {
          ++line_;
          return take_record();
        } else if (c == '\r') {
          state_ = State::kCarriageReturn;
        } else if (c == '"') {
          fail(line_, "a quote inside an unquoted field");
        } else {
          field_ += c;
        }
        break;
      case State::kQuoted:
        if (c == '"') {
          state_ = State::kQuoteInQuoted;
        } else {
          if (c == '\n') ++line_;
          field_ += c;
        }
        break;
      case State::kQuoteInQuoted:
        // Either the first half of "" or the closing quote.
        if (c == '"') {
          field_ += '"';
          state_ = State::kQuoted;
        } else if (c == ',') {
          fields_.push_back(std::move(field_));
          field_.clear();
          state_ = State::kFieldStart;
        } else if (c == '\n') {
          ++line_;
          return take_record();
        } else if (c == '\r') {
          state_ = State::kCarriageReturn;
        } else {
          fail(line_, "a character other than ',' or a line end after a closing quote");
        }
        break;
      case State::kCarriageReturn:
        if (c != '\n') fail(line_, "a carriage return outside quotes without a line feed");
        ++line_;
        return take_record();
    }
  }
  input_.clear();
  scanned_ = 0;
  if (finished_ && !ended_) return end_of_input();
  return std::nullopt;
}

std::vector<std::string> CsvReader::take_record() {
  fields_.push_back(std::move(field_));
  field_.clear();
  std::vector<std::string> record = std::move(fields_);
  fields_.clear();
  state_ = State::kFieldStart;
  record_bytes_ = 0;
  record_line_ = line_;
  return record;
}

std::optional<std::vector<std::string>> CsvReader::end_of_input() {
  ended_ = true;
  switch (state_) {
    case State::kQuoted:
      fail(quote_line_, "the input ends inside a quoted field that starts here");
    case State::kCarriageReturn:
      fail(line_, "a carriage return outside quotes without a line feed");
    case State::kFieldStart:
      if (fields_.empty()) return std::nullopt;  // nothing after the last line end
      break;
    case State::kUnquoted:
    case State::kQuoteInQuoted:
      break;
  }
  return take_record();
}

void CsvReader::fail(std::size_t line, std::string_view why) {
  error_ = "line " + std::to_string(line) + ": " + std::string(why);
  throw CsvError(error_);
}

std::string csv_quote(std::string_view field) {
  const bool plain = !field.empty() && field.find_first_of(",\"\r\n") == std::string_view::npos &&
                     field.front() != ' ' && field.back() != ' ';
  if (plain) return std::string(field);
  std::string out;
  out.reserve(field.size() + 2);
  out += '"';
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace authd::backup
