#include "auth/password.hpp"

#include <charconv>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/base64.hpp"
#include "auth/pbkdf2.hpp"

namespace authd::auth {
namespace {

constexpr std::string_view kPrefix = "$pbkdf2-sha256$i=";

// Takes the text up to the next '$' (or the end) off the front of rest.
std::string_view take_field(std::string_view& rest) {
  const std::size_t end = rest.find('$');
  const std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  return field;
}

std::optional<std::uint32_t> parse_iterations(std::string_view text) {
  // One spelling per number: no sign, no leading zero, digits only (from_chars allows none
  // of those, but it would accept a leading zero).
  if (text.empty() || text.size() > 8 || text.front() == '0') return std::nullopt;
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (value > kMaxIterations) return std::nullopt;
  return value;
}

std::optional<std::vector<unsigned char>> parse_unpadded(std::string_view text) {
  if (text.find('=') != std::string_view::npos) return std::nullopt;
  return base64_decode(text);
}

}  // namespace

std::string format_phc(const PasswordHash& hash) {
  std::string out(kPrefix);
  out += std::to_string(hash.iterations);
  out += '$';
  out += base64_encode(hash.salt);
  out += '$';
  out += base64_encode(hash.key);
  return out;
}

std::optional<PasswordHash> parse_phc(std::string_view text) {
  if (!text.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = text.substr(kPrefix.size());
  const std::string_view iterations_text = take_field(rest);
  if (rest.empty()) return std::nullopt;
  const std::string_view salt_text = take_field(rest);
  if (rest.empty()) return std::nullopt;
  // The key is the last field: any further '$', even a trailing one, is malformed.
  const std::string_view key_text = rest;
  if (key_text.find('$') != std::string_view::npos) return std::nullopt;

  const auto iterations = parse_iterations(iterations_text);
  if (!iterations) return std::nullopt;
  auto salt = parse_unpadded(salt_text);
  if (!salt || salt->size() < kMinSaltBytes || salt->size() > kMaxSaltBytes) return std::nullopt;
  auto key = parse_unpadded(key_text);
  if (!key || key->size() < kMinKeyBytes || key->size() > kMaxKeyBytes) return std::nullopt;
  return PasswordHash{*iterations, std::move(*salt), std::move(*key)};
}

PasswordHash salted_hash(std::uint32_t iterations) {
  if (iterations == 0) throw std::invalid_argument("PBKDF2 needs at least one iteration");
  PasswordHash hash{iterations, std::vector<unsigned char>(kSaltBytes), {}};
  if (RAND_bytes(hash.salt.data(), static_cast<int>(hash.salt.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return hash;
}

namespace {

// A hand-built hash with no key would otherwise match every password.
bool checkable(const PasswordHash& stored) {
  return stored.iterations > 0 && stored.key.size() >= kMinKeyBytes;
}

}  // namespace

bool key_matches(const PasswordHash& stored, const std::vector<unsigned char>& computed) {
  if (!checkable(stored)) return false;
  if (computed.size() != stored.key.size()) return false;
  return CRYPTO_memcmp(computed.data(), stored.key.data(), computed.size()) == 0;
}

std::string hash_password(std::string_view password, std::uint32_t iterations, const Pacer* pacer) {
  PasswordHash hash = salted_hash(iterations);
  hash.key.resize(kKeyBytes);
  pbkdf2_hmac_sha256(password, hash.salt, iterations, hash.key, pacer);
  return format_phc(hash);
}

bool verify_password(std::string_view password, const PasswordHash& stored, const Pacer* pacer) {
  if (!checkable(stored)) return false;  // no derivation for a hash that cannot match
  std::vector<unsigned char> computed(stored.key.size());
  pbkdf2_hmac_sha256(password, stored.salt, stored.iterations, computed, pacer);
  const bool equal = key_matches(stored, computed);
  OPENSSL_cleanse(computed.data(), computed.size());
  return equal;
}

std::string dummy_phc(std::uint32_t iterations) {
  // Same salt and key sizes as hash_password so the work per check is identical.
  static constexpr unsigned char kSalt[kSaltBytes] = {0x9d, 0x41, 0x2c, 0xe0, 0x7b, 0x15,
                                                      0xa8, 0x63, 0xf2, 0x0e, 0x58, 0xc4,
                                                      0x31, 0xb7, 0x6a, 0xd9};
  static constexpr unsigned char kKey[kKeyBytes] = {0x4e, 0x87, 0x1f, 0xd2, 0x60, 0xab, 0x35, 0xc9,
                                                    0x0d, 0x7c, 0xe4, 0x92, 0x58, 0x13, 0xbf, 0x26,
                                                    0xa1, 0x6d, 0x39, 0xf0, 0x84, 0x5b, 0xc7, 0x12,
                                                    0xee, 0x43, 0x9a, 0x07, 0x71, 0xd8, 0x2f, 0xb5};
  return format_phc(PasswordHash{
      iterations, {std::begin(kSalt), std::end(kSalt)}, {std::begin(kKey), std::end(kKey)}});
}

}  // namespace authd::auth
