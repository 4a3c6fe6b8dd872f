#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// RFC 4648 base32 (A–Z, 2–7), as authenticator apps take TOTP secrets.
namespace authd::mfa {

// Unpadded, upper case.
std::string base32_encode(std::span<const unsigned char> data);

// Case-insensitive; '=' padding and spaces are ignored. nullopt for any other character, a
// length no encoding has, or non-zero bits left over.
std::optional<std::vector<unsigned char>> base32_decode(std::string_view text);

}  // namespace authd::mfa
