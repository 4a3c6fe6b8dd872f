#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// TOTP as RFC 6238 with the authenticator apps' settings: HMAC-SHA1, 6 digits, 30 s steps.
namespace authd::mfa {

inline constexpr std::size_t kSecretBytes = 20;
inline constexpr std::int64_t kStepSeconds = 30;

// 20 random bytes.
std::vector<unsigned char> new_secret();

// RFC 4226's HOTP value of counter, as `digits` decimal digits with leading zeros.
std::string hotp(std::span<const unsigned char> secret, std::uint64_t counter, int digits = 6);

// The step of a Unix time.
inline std::int64_t step_of(std::int64_t unix_seconds) {
  return unix_seconds / kStepSeconds;
}

// The step the code belongs to among now's and one either side, if it is later than
// last_used (each step is accepted once). code must be 6 digits (spaces ignored).
std::optional<std::int64_t> match_step(std::span<const unsigned char> secret, std::string_view code,
                                       std::int64_t unix_seconds, std::int64_t last_used);

// otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30
std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::span<const unsigned char> secret);

}  // namespace authd::mfa
