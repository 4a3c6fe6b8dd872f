#include "mfa/totp.hpp"

#include <array>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "mfa/base32.hpp"

namespace authd::mfa {

namespace {

std::string uri_escape(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

}  // namespace

std::vector<unsigned char> new_secret() {
  std::vector<unsigned char> secret(kSecretBytes);
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return secret;
}

std::string hotp(std::span<const unsigned char> secret, std::uint64_t counter, int digits) {
  std::array<unsigned char, 8> message{};
  for (int i = 7; i >= 0; --i) {
    message[static_cast<std::size_t>(i)] = static_cast<unsigned char>(counter & 0xFF);
    counter >>= 8;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  if (HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), message.data(),
           message.size(), mac.data(), &length) == nullptr ||
      length != 20) {
    throw std::runtime_error("HMAC-SHA1 failed");
  }
  const unsigned offset = mac[19] & 0x0F;
  const std::uint32_t binary = (static_cast<std::uint32_t>(mac[offset] & 0x7F) << 24) |
                               (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                               (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
                               static_cast<std::uint32_t>(mac[offset + 3]);
  std::uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  std::string out = std::to_string(binary % modulus);
  return std::string(static_cast<std::size_t>(digits) - out.size(), '0') + out;
}

std::optional<std::int64_t> match_step(std::span<const unsigned char> secret, std::string_view code,
                                       std::int64_t unix_seconds, std::int64_t last_used) {
  std::string digits;
  for (const char ch : code) {
    if (ch == ' ') continue;
    if (ch < '0' || ch > '9' || digits.size() == 6) return std::nullopt;
    digits += ch;
  }
  if (digits.size() != 6) return std::nullopt;
  const std::int64_t now = step_of(unix_seconds);
  std::optional<std::int64_t> found;
  // Every candidate is computed and compared in constant time, whichever matches.
  for (std::int64_t step = now - 1; step <= now + 1; ++step) {
    if (step < 0) continue;
    const std::string expected = hotp(secret, static_cast<std::uint64_t>(step));
    if (CRYPTO_memcmp(expected.data(), digits.data(), 6) == 0 && step > last_used && !found) {
      found = step;
    }
  }
  return found;
}

std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::span<const unsigned char> secret) {
  return "otpauth://totp/" + uri_escape(issuer) + ":" + uri_escape(account) +
         "?secret=" + base32_encode(secret) + "&issuer=" + uri_escape(issuer) +
         "&algorithm=SHA1&digits=6&period=30";
}

}  // namespace authd::mfa
