#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/password.hpp"

namespace authd::auth {

// Password hashes of other systems, accepted by `authd user import` and replaced by authd's own
// PBKDF2 at the first successful login. Each format has bounds: a stored string past them is
// refused, so no imported row can make a login do unbounded work.
inline constexpr std::uint32_t kMaxImportedIterations = 10'000'000;  // werkzeug and Django PBKDF2
inline constexpr std::uint64_t kMaxScryptN = std::uint64_t{1} << 20;
inline constexpr std::uint32_t kMaxScryptR = 16;
inline constexpr std::uint32_t kMaxScryptP = 16;
inline constexpr unsigned kMaxBcryptCost = 15;
inline constexpr std::uint32_t kMaxArgon2MemoryKib = 262'144;
inline constexpr std::uint32_t kMaxArgon2Passes = 10;
inline constexpr std::uint32_t kMaxArgon2Lanes = 16;
// What any stored hash string may be at most, and a werkzeug or Django salt.
inline constexpr std::size_t kMaxImportedHashLength = 512;
inline constexpr std::size_t kMaxImportedSaltLength = 256;
// werkzeug 2.2's DEFAULT_PBKDF2_ITERATIONS: what "pbkdf2:sha256$salt$hex" (no count) means.
inline constexpr std::uint32_t kWerkzeugDefaultIterations = 260'000;

enum class ImportedFormat {
  werkzeug_pbkdf2,  // pbkdf2:<digest>[:<iterations>]$<salt>$<hex key>
  werkzeug_scrypt,  // scrypt[:<N>:<r>:<p>]$<salt>$<hex key>
  django_pbkdf2,    // pbkdf2_<digest>$<iterations>$<salt>$<base64 key>
  bcrypt,           // $2a$, $2b$, $2y$<cost>$<salt and hash>
  argon2i,          // $argon2i$[v=<version>$]m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
  argon2d,
  argon2id,
};

// PBKDF2 (werkzeug, Django) and scrypt (werkzeug): the salt as the bytes the system used (its
// text, not decoded) and the key it stored.
struct DerivedKeyHash {
  std::string digest;          // PBKDF2: sha1, sha224, sha256, sha384 or sha512
  std::uint64_t cost = 0;      // PBKDF2 iterations, scrypt N
  std::uint32_t r = 0, p = 0;  // scrypt only
  std::string salt;
  std::vector<unsigned char> key;
};

// Argon2: parameters, decoded salt and hash.
struct Argon2Hash {
  std::uint32_t version = 0x13;
  std::uint32_t memory_kib = 0, passes = 0, lanes = 0;
  std::vector<unsigned char> salt, hash;
};

// bcrypt: the whole string, which crypt reads as its setting.
struct BcryptHash {
  std::string encoded;
  unsigned cost = 0;
};

struct ImportedHash {
  ImportedFormat format;
  std::variant<DerivedKeyHash, Argon2Hash, BcryptHash> params;
};

// A name for messages: "werkzeug pbkdf2", "bcrypt", ...
std::string_view format_name(ImportedFormat format);

// A foreign hash, or why the text is refused: "not a known password hash format" or a sentence
// naming the format and the field or bound at fault. The reason never repeats the text.
std::variant<ImportedHash, std::string> parse_imported(std::string_view text);

// Recomputes the hash of password with the stored parameters and compares in constant time.
// False for a password holding a NUL (bcrypt would read only the bytes before it). Runs for as
// long as the format's cost: call it on the hash pool. Throws std::runtime_error when the
// library fails for a reason other than a mismatch (out of memory).
bool verify_imported(std::string_view password, const ImportedHash& stored);

// What a users row may hold: authd's own PBKDF2 or an imported format.
using StoredHash = std::variant<PasswordHash, ImportedHash>;

// nullopt for a string in no accepted format or past its bounds (such a row is checked against
// the dummy and never matches).
std::optional<StoredHash> parse_stored_hash(std::string_view text);

// Why a hash may not be imported, or nullopt when authd can verify it (its own or a foreign one).
std::optional<std::string> importable_hash_problem(std::string_view text);

}  // namespace authd::auth
