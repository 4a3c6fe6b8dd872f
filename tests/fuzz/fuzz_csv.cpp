// The CSV reader of restore and import (PostgreSQL's CSV), fed in chunks whose sizes the input's
// first byte chooses; every field also goes through the import's timestamp and hash checks.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/imported_hash.hpp"
#include "backup/csv.hpp"
#include "backup/import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  authd::backup::CsvReader reader;
  try {
    for (std::size_t at = 0; at < text.size(); at += chunk) {
      reader.feed(text.substr(at, chunk));
      while (auto record = reader.next_record()) {
        for (const auto& field : *record) {
          (void)authd::backup::import_timestamp_valid(field);
          (void)authd::auth::importable_hash_problem(field);
        }
      }
    }
    reader.finish();
    while (reader.next_record()) {
    }
  } catch (const authd::backup::CsvError&) {
  }
  return 0;
}
