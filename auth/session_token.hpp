#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "db/digest.hpp"

namespace authd::auth {

inline constexpr std::size_t kSessionTokenBytes = 32;
inline constexpr std::size_t kSessionTokenLength = 43;  // unpadded base64url of 32 bytes

// 32 bytes from RAND_bytes as unpadded base64url. Throws std::runtime_error when the random
// generator fails.
std::string new_session_token();

// What the database keys a session by: lower-case hex of the SHA-256 of the token's 32 raw
// bytes (not of its text), passed to SQL as decode($1, 'hex'). nullopt for anything
// new_session_token cannot have produced, so malformed tokens never reach the database.
std::optional<std::string> token_hash_hex(std::string_view token);

// The same SHA-256 as bytes: what the session cache is keyed by.
std::optional<db::Sha256Digest> token_digest(std::string_view token);

}  // namespace authd::auth
