#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "backup/import.hpp"

using authd::backup::import_timestamp_valid;

TEST_CASE("import reads created_at in the forms PostgreSQL and ISO 8601 write",
          "[backup][import]") {
  const std::vector<std::string> valid = {
      "2024-01-02",
      "2024-01-02 03:04",
      "2024-01-02 03:04:05",
      "2024-01-02 03:04:05.678901",  // the original service's TIMESTAMP column
      "2024-01-02T03:04:05Z",
      "2024-01-02T03:04:05.1Z",
      "2024-01-02T03:04:05.123456789Z",
      "2024-01-02 03:04:05+00",  // PostgreSQL's timestamptz output
      "2024-01-02 03:04:05.5-07",
      "2024-01-02T03:04:05+05:30",
      "2024-01-02T03:04:05+0530",
      "2024-02-29 00:00:00",
      "2000-02-29",
      "0001-01-01",
      "9999-12-31T23:59:59Z",
  };
  for (const auto& text : valid) {
    INFO(text);
    CHECK(import_timestamp_valid(text));
  }
  const std::vector<std::string> invalid = {
      "",
      "yesterday",
      "now",
      "2024-1-02",
      "2024-01-2",
      "24-01-02",
      "0000-01-01",
      "2024-13-01",
      "2024-00-10",
      "2024-04-31",
      "2023-02-29",
      "1900-02-29",
      "2024-01-02 24:00:00",
      "2024-01-02 12:60:00",
      "2024-01-02 12:00:60",
      "2024-01-02 12",
      "2024-01-02T",
      "2024-01-02 12:00:00.",
      "2024-01-02 12:00:00.1234567890",
      "2024-01-02 12:00:00 UTC",
      "2024-01-02 12:00:00+16",
      "2024-01-02 12:00:00+05:60",
      "2024-01-02 12:00:00+05:3",
      "2024-01-02 12:00:00Zx",
      "2024-01-02Z",
      " 2024-01-02",
      "2024-01-02\n",
      std::string("2024-01-02\0", 11),
  };
  for (const auto& text : invalid) {
    INFO(text);
    CHECK_FALSE(import_timestamp_valid(text));
  }
}
