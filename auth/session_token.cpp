#include "auth/session_token.hpp"

#include <array>
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
  if (token.size() != kSessionTokenLength) return std::nullopt;
  auto raw = base64url_decode(token);
  if (!raw || raw->size() != kSessionTokenBytes) return std::nullopt;
  const db::Sha256Digest digest = db::sha256(raw->data(), raw->size());
  OPENSSL_cleanse(raw->data(), raw->size());
  return digest;
}

std::optional<std::string> token_hash_hex(std::string_view token) {
  const auto digest = token_digest(token);
  if (!digest) return std::nullopt;
  return db::to_hex(*digest);
}

}  // namespace authd::auth
