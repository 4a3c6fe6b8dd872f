#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/pacer.hpp"

namespace authd::auth {

struct PasswordHash {
  std::uint32_t iterations;
  std::vector<unsigned char> salt;
  std::vector<unsigned char> key;
};

// Limits parse_phc enforces, so a stored string cannot ask for unbounded work or a trivial key.
inline constexpr std::uint32_t kMaxIterations = 10'000'000;
inline constexpr std::size_t kMinSaltBytes = 8;
inline constexpr std::size_t kMaxSaltBytes = 64;
inline constexpr std::size_t kMinKeyBytes = 16;
inline constexpr std::size_t kMaxKeyBytes = 64;

// What hash_password produces.
inline constexpr std::size_t kSaltBytes = 16;
inline constexpr std::size_t kKeyBytes = 32;

// "$pbkdf2-sha256$i=<iterations>$<salt b64>$<key b64>", unpadded standard base64.
std::string format_phc(const PasswordHash& hash);

// The inverse of format_phc; nullopt for anything else, including padded base64 and
// out-of-range iterations, salt or key sizes.
std::optional<PasswordHash> parse_phc(std::string_view text);

// A fresh random salt and a PBKDF2 key, as a PHC string. Throws std::runtime_error when the
// random generator fails and std::invalid_argument when iterations is 0.
// A pacer lets the derivation give way to other work (see HashPool).
std::string hash_password(std::string_view password, std::uint32_t iterations,
                          const Pacer* pacer = nullptr);

// Recomputes the key with the stored salt, cost and key length; compares in constant time.
bool verify_password(std::string_view password, const PasswordHash& stored,
                     const Pacer* pacer = nullptr);

// A hash of the given cost with a fresh random salt and no key yet (the key is the caller's
// PBKDF2 of the password with that salt, kKeyBytes long). Throws like hash_password.
PasswordHash salted_hash(std::uint32_t iterations);

// Whether a key computed with stored's salt and cost is stored's key; constant time.
bool key_matches(const PasswordHash& stored, const std::vector<unsigned char>& computed);

// A valid PHC string of the given cost that no password matches in practice: verifying
// against it for unknown users takes as long as a real check.
std::string dummy_phc(std::uint32_t iterations);

}  // namespace authd::auth
