#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// SHA-256 and lower-case hex, the form digests take in the database (session token hashes,
// backup checksums) and in constant-time comparisons of secrets. OpenSSL's SHA-256 is fetched
// once: an implicit fetch per call takes locks inside OpenSSL.
struct evp_md_st;

namespace authd::db {

// OpenSSL's SHA-256, fetched on first use (PBKDF2's HMAC needs it too).
const evp_md_st* sha256_md();

inline constexpr std::size_t kSha256Bytes = 32;
using Sha256Digest = std::array<unsigned char, kSha256Bytes>;

Sha256Digest sha256(const void* data, std::size_t size);
inline Sha256Digest sha256(std::string_view text) {
  return sha256(text.data(), text.size());
}

std::string to_hex(const unsigned char* data, std::size_t size);
inline std::string to_hex(const Sha256Digest& digest) {
  return to_hex(digest.data(), digest.size());
}
// Lower-case hex back to bytes; nullopt for an odd length or any other character.
std::optional<std::vector<unsigned char>> from_hex(std::string_view hex);

// A digest of data that arrives in pieces (a backup file as it is written).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t size);
  Sha256Digest finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace authd::db
