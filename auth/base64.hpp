#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace authd::auth {

// Standard alphabet (RFC 4648 section 4), never padded: the PHC hash format omits '='.
std::string base64_encode(std::span<const unsigned char> data);

// Standard alphabet, padded or not. Rejects characters outside the alphabet, misplaced or
// excess '=', a length no encoding can have, and non-zero unused trailing bits, so each byte
// string has exactly one accepted unpadded spelling.
std::optional<std::vector<unsigned char>> base64_decode(std::string_view text);

// URL-safe alphabet (RFC 4648 section 5), unpadded: used for session tokens.
std::string base64url_encode(std::span<const unsigned char> data);

// URL-safe alphabet, unpadded only; the same rejections as base64_decode, '=' included.
std::optional<std::vector<unsigned char>> base64url_decode(std::string_view text);

// base64_decode into a caller's buffer, without allocating: the bytes written, or nullopt.
std::optional<std::size_t> base64_decode_into(std::string_view text, std::span<unsigned char> out);

// The same into a caller's buffer, without allocating: the number of bytes written, or nullopt
// (malformed, or longer than out).
std::optional<std::size_t> base64url_decode_into(std::string_view text,
                                                 std::span<unsigned char> out);

}  // namespace authd::auth
