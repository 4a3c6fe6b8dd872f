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
  // Decoded on the stack: every session check comes here.
  if (token.size() != kSessionTokenLength) return std::nullopt;
  std::array<unsigned char, kSessionTokenBytes> raw{};
  const auto n = base64url_decode_into(token, raw);
  if (!n || *n != raw.size()) return std::nullopt;
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
