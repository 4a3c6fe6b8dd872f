#include "mfa/recovery.hpp"

#include <array>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "db/digest.hpp"

namespace authd::mfa {

namespace {

constexpr std::string_view kAlphabet = "23456789abcdefghjkmnpqrstuvwxyz";  // 31 symbols
constexpr std::size_t kLength = 10;
constexpr std::size_t kSalt = 16;

std::string digest_hex(std::string_view salt_hex, std::string_view normal) {
  std::string input(salt_hex);
  input += ':';
  input += normal;
  return db::to_hex(db::sha256(input));
}

}  // namespace

std::vector<std::string> new_recovery_codes() {
  std::vector<std::string> codes;
  while (codes.size() < kRecoveryCodes) {
    std::string code;
    while (code.size() < kLength) {
      unsigned char byte = 0;
      if (RAND_bytes(&byte, 1) != 1) throw std::runtime_error("RAND_bytes failed");
      if (byte >= 248) continue;  // 248 = 8 × 31: no bias
      code += kAlphabet[byte % kAlphabet.size()];
    }
    codes.push_back(code.substr(0, 5) + "-" + code.substr(5));
  }
  return codes;
}

std::string normalize_recovery_code(std::string_view code) {
  std::string out;
  for (char ch : code) {
    if (ch == '-' || ch == ' ') continue;
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    if (kAlphabet.find(ch) == std::string_view::npos || out.size() == kLength) return {};
    out += ch;
  }
  return out.size() == kLength ? out : std::string();
}

std::string hash_recovery_code(std::string_view code) {
  std::array<unsigned char, kSalt> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  const std::string salt_hex = db::to_hex(salt.data(), salt.size());
  return salt_hex + ":" + digest_hex(salt_hex, normalize_recovery_code(code));
}

bool recovery_code_matches(std::string_view code, std::string_view stored) {
  const auto colon = stored.find(':');
  const std::string normal = normalize_recovery_code(code);
  if (colon == std::string_view::npos || normal.empty()) return false;
  const std::string expected = digest_hex(stored.substr(0, colon), normal);
  const std::string_view have = stored.substr(colon + 1);
  return have.size() == expected.size() &&
         CRYPTO_memcmp(have.data(), expected.data(), expected.size()) == 0;
}

}  // namespace authd::mfa
