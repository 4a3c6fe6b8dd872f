#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "backup/csv.hpp"

using authd::backup::csv_quote;
using authd::backup::CsvError;
using authd::backup::CsvReader;
using Records = std::vector<std::vector<std::string>>;

namespace {

void drain(CsvReader& reader, Records& out) {
  while (auto record = reader.next_record()) out.push_back(std::move(*record));
}

// Feeds the pieces one after another, reading whatever is complete after each.
Records read_pieces(const std::vector<std::string_view>& pieces) {
  CsvReader reader;
  Records records;
  for (const auto piece : pieces) {
    reader.feed(piece);
    drain(reader, records);
  }
  reader.finish();
  drain(reader, records);
  return records;
}

Records read_all(std::string_view text) {
  return read_pieces({text});
}

std::string to_csv(const Records& records) {
  std::string out;
  for (const auto& record : records) {
    for (std::size_t i = 0; i < record.size(); ++i) {
      if (i > 0) out += ',';
      out += csv_quote(record[i]);
    }
    out += '\n';
  }
  return out;
}

// The CsvError message for the input, or "" when it parses.
std::string error_for(std::string_view text) {
  try {
    read_all(text);
  } catch (const CsvError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("plain fields are not quoted", "[backup][csv]") {
  CHECK(csv_quote("alice") == "alice");
  CHECK(csv_quote("alice@example.com") == "alice@example.com");
  CHECK(csv_quote("$pbkdf2-sha256$i=600000$abc$def") == "$pbkdf2-sha256$i=600000$abc$def");
  CHECK(csv_quote("inner space") == "inner space");
}

TEST_CASE("fields with commas, quotes or line breaks are quoted", "[backup][csv]") {
  CHECK(csv_quote("a,b@example.com") == "\"a,b@example.com\"");
  CHECK(csv_quote("\"john\"@example.com") == "\"\"\"john\"\"@example.com\"");
  CHECK(csv_quote("\"a,b\"@example.com") == "\"\"\"a,b\"\"@example.com\"");
  CHECK(csv_quote("line\nbreak") == "\"line\nbreak\"");
  CHECK(csv_quote("carriage\rreturn") == "\"carriage\rreturn\"");
  CHECK(csv_quote("\"") == "\"\"\"\"");
}

TEST_CASE("empty fields and edge spaces are quoted", "[backup][csv]") {
  CHECK(csv_quote("") == "\"\"");
  CHECK(csv_quote(" lead") == "\" lead\"");
  CHECK(csv_quote("trail ") == "\"trail \"");
  CHECK(csv_quote(" ") == "\" \"");
}

TEST_CASE("a header line reads as a normal record", "[backup][csv]") {
  const Records records = read_all(
      "id,username,email,password_hash,role,created_at\n"
      "1,alice,alice@example.com,$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$a2V5,admin,"
      "2026-11-24 21:17:02.123456+00\n");
  REQUIRE(records.size() == 2);
  CHECK(records[0] ==
        std::vector<std::string>{"id", "username", "email", "password_hash", "role", "created_at"});
  CHECK(records[1] == std::vector<std::string>{"1", "alice", "alice@example.com",
                                               "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$a2V5", "admin",
                                               "2026-11-24 21:17:02.123456+00"});
}

TEST_CASE("quoted fields hold commas, doubled quotes and newlines", "[backup][csv]") {
  const Records records = read_all("\"a,b@example.com\",\"say \"\"hi\"\"\",\"two\nlines\"\n");
  REQUIRE(records.size() == 1);
  CHECK(records[0] == std::vector<std::string>{"a,b@example.com", "say \"hi\"", "two\nlines"});
}

TEST_CASE("empty fields and empty quoted fields read as empty strings", "[backup][csv]") {
  CHECK(read_all(",,\n") == Records{{"", "", ""}});
  CHECK(read_all("\"\",x,\"\"\n") == Records{{"", "x", ""}});
  CHECK(read_all("\n") == Records{{""}});
}

TEST_CASE("spaces around unquoted fields are kept", "[backup][csv]") {
  CHECK(read_all(" a , b \n") == Records{{" a ", " b "}});
}

TEST_CASE("CRLF line ends are accepted", "[backup][csv]") {
  CHECK(read_all("a,b\r\nc,d\r\n") == Records{{"a", "b"}, {"c", "d"}});
  CHECK(read_all("\"a\",\"b\"\r\n") == Records{{"a", "b"}});
  CHECK(read_all("\"x\r\ny\"\r\n") == Records{{"x\r\ny"}});
}

TEST_CASE("a last record without a line end needs finish", "[backup][csv]") {
  CsvReader reader;
  reader.feed("a,b\nc,d");
  CHECK(reader.next_record() == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(reader.next_record().has_value());
  reader.finish();
  CHECK(reader.next_record() == std::vector<std::string>{"c", "d"});
  CHECK_FALSE(reader.next_record().has_value());
}

TEST_CASE("an ending quoted field completes at finish", "[backup][csv]") {
  CHECK(read_all("a,\"b\"") == Records{{"a", "b"}});
  CHECK(read_all("a,\"\"") == Records{{"a", ""}});
  CHECK(read_all("a,") == Records{{"a", ""}});
}

TEST_CASE("empty input gives no records", "[backup][csv]") {
  CHECK(read_all("").empty());
  CsvReader reader;
  CHECK_FALSE(reader.next_record().has_value());
  reader.finish();
  CHECK_FALSE(reader.next_record().has_value());
}

TEST_CASE("line counts the lines inside quoted fields", "[backup][csv]") {
  CsvReader reader;
  reader.feed("h1,h2\n\"multi\nline\",x\r\nlast,y\n");
  CHECK(reader.line() == 1);
  REQUIRE(reader.next_record().has_value());
  CHECK(reader.line() == 2);
  REQUIRE(reader.next_record().has_value());
  CHECK(reader.line() == 4);
  REQUIRE(reader.next_record().has_value());
  CHECK(reader.line() == 5);
}

TEST_CASE("line stays at a record's start while it arrives in pieces", "[backup][csv]") {
  CsvReader reader;
  reader.feed("a\n\"b\n");
  CHECK(reader.next_record() == std::vector<std::string>{"a"});
  CHECK_FALSE(reader.next_record().has_value());
  CHECK(reader.line() == 2);
  reader.feed("c\"\nd\n");
  CHECK(reader.line() == 2);
  CHECK(reader.next_record() == std::vector<std::string>{"b\nc"});
  CHECK(reader.line() == 4);
}

TEST_CASE("every split point of the input gives the same records", "[backup][csv]") {
  const std::string text =
      "id,username,email\r\n"
      "1,alice,\"a,b\"\"c\"\"@example.com\"\n"
      "2,\"bob\nby\",\"\"\r\n"
      "3,,\" x \"\n"
      "4,\"\"\"\",end";
  const Records expected = {{"id", "username", "email"},
                            {"1", "alice", "a,b\"c\"@example.com"},
                            {"2", "bob\nby", ""},
                            {"3", "", " x "},
                            {"4", "\"", "end"}};
  REQUIRE(read_all(text) == expected);
  const std::string_view view = text;
  for (std::size_t i = 0; i <= view.size(); ++i) {
    for (std::size_t j = i; j <= view.size(); ++j) {
      INFO("split at " << i << " and " << j);
      REQUIRE(read_pieces({view.substr(0, i), view.substr(i, j - i), view.substr(j)}) == expected);
    }
  }
}

TEST_CASE("byte-by-byte feeding gives the same records", "[backup][csv]") {
  const std::string text = "a,\"b\"\"\r\n\"\r\n\"\",c\n";
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < text.size(); ++i)
    bytes.push_back(std::string_view(text).substr(i, 1));
  CHECK(read_pieces(bytes) == Records{{"a", "b\"\r\n"}, {"", "c"}});
}

TEST_CASE("csv_quote output reads back as the same fields", "[backup][csv]") {
  const Records fixed = {
      {"1", "alice", "alice@example.com"},
      {"2", "\"quoted\"@example.com", "a,b@example.com"},
      {"", " ", "new\nline", "cr\rlf\r\n", "\"\"", ",", "é"},
  };
  CHECK(read_all(to_csv(fixed)) == fixed);

  std::mt19937 rng(20261124);
  const std::string alphabet = "ab ,\"\r\n@.\xc3\xa9";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> field_length(0, 12);
  std::uniform_int_distribution<int> field_count(1, 6);
  Records random;
  for (int r = 0; r < 300; ++r) {
    std::vector<std::string> record;
    const int fields = field_count(rng);
    for (int f = 0; f < fields; ++f) {
      std::string field;
      for (int k = field_length(rng); k > 0; --k) field += alphabet[pick(rng)];
      record.push_back(field);
    }
    random.push_back(record);
  }
  const std::string text = to_csv(random);
  // Random chunk sizes, including empty chunks.
  std::uniform_int_distribution<std::size_t> chunk(0, 40);
  std::vector<std::string_view> pieces;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t size = std::min(chunk(rng), text.size() - at);
    pieces.push_back(std::string_view(text).substr(at, size));
    at += size;
  }
  CHECK(read_pieces(pieces) == random);
}

TEST_CASE("a quote inside an unquoted field is an error with its line", "[backup][csv]") {
  CHECK_THAT(error_for("ab\"c\n"), Catch::StartsWith("line 1: a quote inside an unquoted field"));
  CHECK_THAT(error_for("h\nok\nx,ab\"c\n"), Catch::StartsWith("line 3:"));
  CHECK_THAT(error_for(" \"a\"\n"), Catch::StartsWith("line 1:"));
}

TEST_CASE("a character after a closing quote is an error with its line", "[backup][csv]") {
  CHECK_THAT(error_for("\"abc\"x,1\n"),
             Catch::StartsWith("line 1:") && Catch::Contains("after a closing quote"));
  CHECK_THAT(error_for("a\nb\n\"two\nlines\" \n"), Catch::StartsWith("line 4:"));
}

TEST_CASE("input ending inside quotes is an error naming where the quote began", "[backup][csv]") {
  CHECK_THAT(error_for("a\nb,\"never\nclosed\n"),
             Catch::StartsWith("line 2:") && Catch::Contains("inside a quoted field"));
  CHECK_THAT(error_for("\""), Catch::StartsWith("line 1:"));
}

TEST_CASE("a lone carriage return outside quotes is an error", "[backup][csv]") {
  CHECK_THAT(error_for("a\rb\n"), Catch::StartsWith("line 1:"));
  CHECK_THAT(error_for("a\nb\r"), Catch::StartsWith("line 2:"));
}

TEST_CASE("an error is not reported before the malformed record", "[backup][csv]") {
  CsvReader reader;
  reader.feed("good,1\nbad\"x\n");
  CHECK(reader.next_record() == std::vector<std::string>{"good", "1"});
  CHECK_THROWS_AS(reader.next_record(), CsvError);
  CHECK(reader.line() == 2);
  // The reader does not resynchronise after an error.
  CHECK_THROWS_AS(reader.next_record(), CsvError);
}

TEST_CASE("a record over 1 MiB is an error, one just under is not", "[backup][csv]") {
  const std::size_t limit = CsvReader::kMaxRecordBytes;
  {
    CsvReader reader;
    reader.feed(std::string(limit - 1, 'a'));
    CHECK_FALSE(reader.next_record().has_value());
    reader.feed("\n");
    const auto record = reader.next_record();
    REQUIRE(record.has_value());
    CHECK(record->at(0).size() == limit - 1);
  }
  {
    CsvReader reader;
    reader.feed("short\n\"");
    CHECK(reader.next_record().has_value());
    const std::string chunk(64 * 1024, 'q');
    bool thrown = false;
    for (std::size_t fed = 0; fed <= limit && !thrown; fed += chunk.size()) {
      reader.feed(chunk);
      try {
        const bool complete = reader.next_record().has_value();
        CHECK_FALSE(complete);
      } catch (const CsvError& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("line 2:") && Catch::Contains("longer than"));
        thrown = true;
      }
    }
    CHECK(thrown);
  }
}

TEST_CASE("feeding after finish is a logic error", "[backup][csv]") {
  CsvReader reader;
  reader.finish();
  CHECK_THROWS_AS(reader.feed("a\n"), std::logic_error);
}

namespace {

// A header and records with quoted commas, doubled quotes, a newline inside quotes, CRLF and LF
// line ends, empty fields, and a last record without a line end.
const std::string kMixedInput =
    "id,email,note\r\n"
    "1,\"x,y@example.com\",\"he said \"\"hi\"\"\"\n"
    "2,\"multi\r\nline@example.com\",\r\n"
    "3,\"\",\" \"\n"
    "4,plain@example.com,\"\"\"\"";

const Records kMixedRecords = {{"id", "email", "note"},
                               {"1", "x,y@example.com", "he said \"hi\""},
                               {"2", "multi\r\nline@example.com", ""},
                               {"3", "", " "},
                               {"4", "plain@example.com", "\""}};

}  // namespace

TEST_CASE("two pieces split at every offset give the same records", "[backup][csv]") {
  REQUIRE(read_all(kMixedInput) == kMixedRecords);
  const std::string_view view = kMixedInput;
  for (std::size_t at = 0; at <= view.size(); ++at) {
    INFO("split at " << at);
    CHECK(read_pieces({view.substr(0, at), view.substr(at)}) == kMixedRecords);
  }
}

TEST_CASE("the mixed input fed one byte at a time gives the same records", "[backup][csv]") {
  CsvReader reader;
  Records records;
  for (const char c : kMixedInput) {
    reader.feed(std::string_view(&c, 1));
    drain(reader, records);
  }
  // Everything but the unterminated last record is available before finish.
  CHECK(records.size() == kMixedRecords.size() - 1);
  reader.finish();
  drain(reader, records);
  CHECK(records == kMixedRecords);
}

TEST_CASE("emails with commas, quotes and newlines survive quoting", "[backup][csv]") {
  const std::vector<std::string> emails = {"a,b@example.com", "\"a\"@example.com",
                                           "\"x\ny\"@example.com", "a\"\"b@example.com",
                                           "\"\r\n\"@example.com"};
  for (const auto& email : emails) {
    INFO(email);
    const std::string quoted = csv_quote(email);
    CHECK(quoted.front() == '"');
    CHECK(quoted.back() == '"');
    CHECK(read_all("7," + quoted + ",user\n") == Records{{"7", email, "user"}});
  }
}

TEST_CASE("tricky fields round trip through csv_quote", "[backup][csv]") {
  const std::vector<std::string> fields = {"",   "\"", "\"\"",      "\"\"\"\"",   "\r\n",
                                           "\r", "\n", "  leading", "trailing  ", " ",
                                           ",",  ",,", "\",\"",     "a\r\nb"};
  for (const auto& field : fields) {
    INFO("field of " << field.size() << " bytes");
    CHECK(read_all(csv_quote(field) + "\n") == Records{{field}});
    CHECK(read_all(csv_quote(field) + "," + csv_quote(field) + "\r\n") == Records{{field, field}});
  }
}

TEST_CASE("malformed fields name the line in the error", "[backup][csv]") {
  CHECK_THROWS_WITH(read_all("ok\nab\"c\n"), Catch::StartsWith("line 2:"));
  CHECK_THROWS_WITH(read_all("ok\nok\n\"ab\"c\n"), Catch::StartsWith("line 3:"));
  CHECK_THROWS_WITH(read_all("ok\n\"ab"), Catch::StartsWith("line 2:"));
  CHECK_THROWS_AS(read_all("ab\"c"), CsvError);
  CHECK_THROWS_AS(read_all("\"ab\"c"), CsvError);
  CHECK_THROWS_AS(read_all("\"ab"), CsvError);
}
