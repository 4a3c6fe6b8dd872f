// The validators of API.md's Data section, each on the same bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/validation.hpp"
#include "server/router.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace authd::auth;
  (void)check_username(text);
  (void)check_email(text);
  (void)check_password(text);
  (void)check_login(text);
  const bool printable = is_printable_utf8(text);
  const auto length = utf8_length(text);
  if (printable && !length) __builtin_trap();  // printable UTF-8 is UTF-8
  (void)ascii_lower(text);
  (void)authd::server::percent_decode(text);
  return 0;
}
