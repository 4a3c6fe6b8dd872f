#include "auth/session_token.hpp"

#include <array>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/base64.hpp"

namespace authd::auth {
namespace {

// Fetched once: implicit fetches on every call take locks inside OpenSSL.
const EVP_MD* sha256() {
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) throw std::runtime_error("OpenSSL has no SHA-256");
    return fetched;
  }();
  return md;
}

}  // namespace

std::string new_session_token() {
  std::array<unsigned char, kSessionTokenBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  std::string token = base64url_encode(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return token;
}

std::optional<std::string> token_hash_hex(std::string_view token) {
  if (token.size() != kSessionTokenLength) return std::nullopt;
  auto raw = base64url_decode(token);
  if (!raw || raw->size() != kSessionTokenBytes) return std::nullopt;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  const int ok =
      EVP_Digest(raw->data(), raw->size(), digest.data(), &digest_size, sha256(), nullptr);
  OPENSSL_cleanse(raw->data(), raw->size());
  if (ok != 1) throw std::runtime_error("SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * digest_size);
  for (unsigned int i = 0; i < digest_size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0x0F];
  }
  return hex;
}

}  // namespace authd::auth
