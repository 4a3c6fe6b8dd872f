#pragma once

#include <string>
#include <string_view>
#include <vector>

// Recovery codes: 10 at a time, 10 characters of an alphabet without look-alikes (no 0/o, 1/l/i),
// shown as xxxxx-xxxxx; stored only as salted SHA-256 hashes, each good once.
namespace authd::mfa {

inline constexpr std::size_t kRecoveryCodes = 10;

std::vector<std::string> new_recovery_codes();

// The form a code is compared in: lower case, without the dash or spaces; empty when it cannot
// be a code.
std::string normalize_recovery_code(std::string_view code);

// "<salt hex>:<sha256 hex of salt || normalised code>", with a fresh 16-byte salt.
std::string hash_recovery_code(std::string_view code);
// Whether code is the one hashed (constant time).
bool recovery_code_matches(std::string_view code, std::string_view stored);

}  // namespace authd::mfa
