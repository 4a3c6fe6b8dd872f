#include "auth/session_token.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/base64.hpp"
#include "db/digest.hpp"

namespace authd::auth {

std::string new_session_token() {
  std::array<unsigned char, kSessionTokenBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  std::string token = base64url_encode(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return token;
}

std::optional<db::Sha256Digest> token_digest(std::string_view token) {
  // Decoded on the stack (every session check comes here): the same rules as base64url_decode,
  // so each token has exactly one accepted spelling.
  if (token.size() != kSessionTokenLength) return std::nullopt;
  std::array<unsigned char, kSessionTokenBytes> raw{};
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t out = 0;
  for (const char ch : token) {
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '-') {
      v = 62;
    } else if (ch == '_') {
      v = 63;
    } else {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      raw[out++] = static_cast<unsigned char>((buffer >> (bits - 8)) & 0xFF);
      bits -= 8;
    }
  }
  // 43 symbols carry 258 bits: the last two must be zero.
  if (out != raw.size() || (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  const db::Sha256Digest digest = db::sha256(raw.data(), raw.size());
  OPENSSL_cleanse(raw.data(), raw.size());
  return digest;
}

std::optional<std::string> token_hash_hex(std::string_view token) {
  const auto digest = token_digest(token);
  if (!digest) return std::nullopt;
  return db::to_hex(*digest);
}

}  // namespace authd::auth
