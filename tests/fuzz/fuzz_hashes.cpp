// Stored password hashes: authd's PHC string and every imported format, parsed as a users row or
// an import row would be (never verified here: a bound-passing bcrypt or scrypt is slow by
// design). What parses as authd's own must print back the same.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "auth/imported_hash.hpp"
#include "auth/password.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace authd::auth;
  if (const auto phc = parse_phc(text)) {
    if (format_phc(*phc) != text) __builtin_trap();
  }
  (void)parse_imported(text);
  (void)parse_stored_hash(text);
  (void)importable_hash_problem(text);
  return 0;
}
