#include "auth/imported_hash.hpp"

#include <argon2.h>

#include <algorithm>

#include "auth/base64.hpp"
#include "auth/validation.hpp"

// Reading the formats and their bounds; checking a password is imported_hash_verify.cpp.
namespace authd::auth {
namespace {

using Parsed = std::variant<ImportedHash, std::string>;

constexpr std::string_view kOwnPrefix = "$pbkdf2-sha256$";

// Splits text at every '$' (an empty text gives one empty field).
std::vector<std::string_view> split(std::string_view text, char separator,
                                    std::size_t max_fields = std::string_view::npos) {
  std::vector<std::string_view> fields;
  while (fields.size() + 1 < max_fields) {
    const std::size_t end = text.find(separator);
    if (end == std::string_view::npos) break;
    fields.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  fields.push_back(text);
  return fields;
}

// Decimal digits only (no sign, no spaces), at most 12 of them, so nothing overflows.
std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::uint64_t value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  return value;
}

// Key bytes of each PBKDF2 digest werkzeug and Django may name; 0 for any other name.
std::size_t digest_size(std::string_view digest) {
  if (digest == "sha1") return 20;
  if (digest == "sha224") return 28;
  if (digest == "sha256") return 32;
  if (digest == "sha384") return 48;
  if (digest == "sha512") return 64;
  return 0;
}

// Lower-case hex as Python's bytes.hex() writes it: werkzeug compares the text, so an upper-case
// key would never match there either.
std::optional<std::vector<unsigned char>> parse_lower_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
  };
  std::vector<unsigned char> out(text.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(text[2 * i]);
    const int lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return out;
}

std::optional<std::string> check_salt(std::string_view salt, std::string_view format) {
  if (salt.empty()) return std::string(format) + ": the salt is empty";
  if (salt.size() > kMaxImportedSaltLength) {
    return std::string(format) + ": the salt is longer than 256 bytes";
  }
  return std::nullopt;
}

// werkzeug's method$salt$hash; the hash is everything after the second '$'.
Parsed parse_werkzeug(std::string_view text) {
  const auto fields = split(text, '$', 3);
  if (fields.size() != 3) return "werkzeug: expected method$salt$hash";
  const auto method = split(fields[0], ':');
  const std::string_view salt = fields[1];
  const std::string_view hex = fields[2];
  DerivedKeyHash params;
  params.salt = std::string(salt);
  if (method[0] == "pbkdf2") {
    constexpr std::string_view kName = "werkzeug pbkdf2";
    if (method.size() != 2 && method.size() != 3) {
      return std::string(kName) + ": expected pbkdf2:<digest>:<iterations>";
    }
    const std::size_t size = digest_size(method[1]);
    if (size == 0)
      return std::string(kName) + ": the digest is not sha1, sha224, sha256, sha384 or sha512";
    params.digest = std::string(method[1]);
    params.cost = kWerkzeugDefaultIterations;
    if (method.size() == 3) {
      const auto iterations = parse_decimal(method[2]);
      if (!iterations) return std::string(kName) + ": iterations are not a number";
      params.cost = *iterations;
    }
    if (params.cost == 0) return std::string(kName) + ": iterations must be at least 1";
    if (params.cost > kMaxImportedIterations) {
      return std::string(kName) + ": iterations exceed 10,000,000";
    }
    if (auto problem = check_salt(salt, kName)) return *problem;
    auto key = parse_lower_hex(hex);
    if (!key || key->size() != size) {
      return std::string(kName) + ": the key is not " + std::to_string(2 * size) +
             " lower-case hex digits";
    }
    params.key = std::move(*key);
    return ImportedHash{ImportedFormat::werkzeug_pbkdf2, std::move(params)};
  }
  if (method[0] == "scrypt") {
    constexpr std::string_view kName = "werkzeug scrypt";
    // werkzeug's defaults when the method names no parameters.
    std::uint64_t n = 1 << 15, r = 8, p = 1;
    if (method.size() == 4) {
      const auto pn = parse_decimal(method[1]), pr = parse_decimal(method[2]),
                 pp = parse_decimal(method[3]);
      if (!pn || !pr || !pp) return std::string(kName) + ": N, r and p must be numbers";
      n = *pn, r = *pr, p = *pp;
    } else if (method.size() != 1) {
      return std::string(kName) + ": expected scrypt:<N>:<r>:<p>";
    }
    if (n < 2 || (n & (n - 1)) != 0) return std::string(kName) + ": N is not a power of 2";
    if (n > kMaxScryptN) return std::string(kName) + ": N exceeds 2^20";
    if (r < 1 || r > kMaxScryptR) return std::string(kName) + ": r is not between 1 and 16";
    if (p < 1 || p > kMaxScryptP) return std::string(kName) + ": p is not between 1 and 16";
    if (auto problem = check_salt(salt, kName)) return *problem;
    auto key = parse_lower_hex(hex);
    // hashlib.scrypt's default length, which werkzeug keeps.
    if (!key || key->size() != 64) {
      return std::string(kName) + ": the key is not 128 lower-case hex digits";
    }
    params.cost = n;
    params.r = static_cast<std::uint32_t>(r);
    params.p = static_cast<std::uint32_t>(p);
    params.key = std::move(*key);
    return ImportedHash{ImportedFormat::werkzeug_scrypt, std::move(params)};
  }
  return "not a known password hash format";
}

// Django's <algorithm>$<iterations>$<salt>$<base64 key>.
Parsed parse_django(std::string_view text) {
  constexpr std::string_view kName = "django pbkdf2";
  const auto fields = split(text, '$', 4);
  if (fields.size() != 4) return std::string(kName) + ": expected algorithm$iterations$salt$hash";
  DerivedKeyHash params;
  params.digest = std::string(fields[0].substr(std::string_view("pbkdf2_").size()));
  const std::size_t size = digest_size(params.digest);
  if (size == 0) return std::string(kName) + ": the algorithm is not pbkdf2_sha256 or pbkdf2_sha1";
  const auto iterations = parse_decimal(fields[1]);
  if (!iterations) return std::string(kName) + ": iterations are not a number";
  if (*iterations == 0) return std::string(kName) + ": iterations must be at least 1";
  if (*iterations > kMaxImportedIterations) {
    return std::string(kName) + ": iterations exceed 10,000,000";
  }
  params.cost = *iterations;
  if (auto problem = check_salt(fields[2], kName)) return *problem;
  params.salt = std::string(fields[2]);
  // Django compares the padded text base64.b64encode wrote.
  auto key = fields[3].size() % 4 == 0 ? base64_decode(fields[3]) : std::nullopt;
  if (!key || key->size() != size) {
    return std::string(kName) + ": the key is not the padded base64 of " + std::to_string(size) +
           " bytes";
  }
  params.key = std::move(*key);
  return ImportedHash{ImportedFormat::django_pbkdf2, std::move(params)};
}

bool bcrypt_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '.' || ch == '/';
}

// $2b$<two-digit cost>$<22 characters of salt><31 of hash>.
Parsed parse_bcrypt(std::string_view text) {
  constexpr std::string_view kName = "bcrypt";
  if (text.size() != 60 || text[3] != '$' || text[6] != '$') {
    return std::string(kName) + ": expected $2b$<cost>$ and 53 characters";
  }
  const auto cost = parse_decimal(text.substr(4, 2));
  if (!cost) return std::string(kName) + ": the cost is not a number";
  if (!std::all_of(text.begin() + 7, text.end(), bcrypt_char)) {
    return std::string(kName) + ": the salt and hash are not bcrypt's base64";
  }
  if (*cost < 4) return std::string(kName) + ": the cost is below 4";
  if (*cost > kMaxBcryptCost) return std::string(kName) + ": the cost exceeds 15";
  return ImportedHash{ImportedFormat::bcrypt,
                      BcryptHash{std::string(text), static_cast<unsigned>(*cost)}};
}

// One "name=value" of Argon2's parameter list.
std::optional<std::uint64_t> argon2_parameter(std::string_view field, std::string_view name) {
  if (!field.starts_with(name) || field.size() <= name.size() || field[name.size()] != '=') {
    return std::nullopt;
  }
  return parse_decimal(field.substr(name.size() + 1));
}

std::optional<std::vector<unsigned char>> unpadded_base64(std::string_view text) {
  if (text.empty() || text.find('=') != std::string_view::npos) return std::nullopt;
  return base64_decode(text);
}

// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash> (v= may be missing: version 16), PHC's unpadded
// base64, parameters in that order, as libargon2 writes and reads them.
Parsed parse_argon2(ImportedFormat format, std::string_view rest) {
  constexpr std::string_view kName = "argon2";
  auto fields = split(rest, '$');
  Argon2Hash params;
  params.version = ARGON2_VERSION_10;
  if (!fields.empty() && fields[0].starts_with("v=")) {
    const auto version = parse_decimal(fields[0].substr(2));
    if (version != 16u && version != 19u)
      return std::string(kName) + ": the version is not 16 or 19";
    params.version = static_cast<std::uint32_t>(*version);
    fields.erase(fields.begin());
  }
  if (fields.size() != 3) return std::string(kName) + ": expected $v=19$m=…,t=…,p=…$salt$hash";
  const auto costs = split(fields[0], ',');
  if (costs.size() != 3) return std::string(kName) + ": expected m=…,t=…,p=…";
  const auto m = argon2_parameter(costs[0], "m");
  const auto t = argon2_parameter(costs[1], "t");
  const auto p = argon2_parameter(costs[2], "p");
  if (!m || !t || !p) return std::string(kName) + ": expected m=…,t=…,p=… with numbers";
  if (*m > kMaxArgon2MemoryKib) return std::string(kName) + ": memory exceeds 262144 KiB";
  if (*t > kMaxArgon2Passes) return std::string(kName) + ": t exceeds 10";
  if (*p > kMaxArgon2Lanes) return std::string(kName) + ": p exceeds 16";
  if (*t < 1 || *p < 1) return std::string(kName) + ": t and p must be at least 1";
  if (*m < 8 * *p) return std::string(kName) + ": memory is below 8 KiB per lane";
  auto salt = unpadded_base64(fields[1]);
  if (!salt || salt->size() < 8 || salt->size() > 64) {
    return std::string(kName) + ": the salt is not 8 to 64 bytes of unpadded base64";
  }
  auto hash = unpadded_base64(fields[2]);
  if (!hash || hash->size() < 4 || hash->size() > 128) {
    return std::string(kName) + ": the hash is not 4 to 128 bytes of unpadded base64";
  }
  params.memory_kib = static_cast<std::uint32_t>(*m);
  params.passes = static_cast<std::uint32_t>(*t);
  params.lanes = static_cast<std::uint32_t>(*p);
  params.salt = std::move(*salt);
  params.hash = std::move(*hash);
  return ImportedHash{format, std::move(params)};
}

}  // namespace

std::string_view format_name(ImportedFormat format) {
  switch (format) {
    case ImportedFormat::werkzeug_pbkdf2:
      return "werkzeug pbkdf2";
    case ImportedFormat::werkzeug_scrypt:
      return "werkzeug scrypt";
    case ImportedFormat::django_pbkdf2:
      return "django pbkdf2";
    case ImportedFormat::bcrypt:
      return "bcrypt";
    case ImportedFormat::argon2i:
      return "argon2i";
    case ImportedFormat::argon2d:
      return "argon2d";
    case ImportedFormat::argon2id:
      return "argon2id";
  }
  return "unknown";
}

std::variant<ImportedHash, std::string> parse_imported(std::string_view text) {
  if (text.empty()) return "the hash is empty";
  if (text.size() > kMaxImportedHashLength) return "the hash is longer than 512 characters";
  if (!is_printable_utf8(text)) return "the hash holds a control character or is not UTF-8";
  if (text.starts_with("pbkdf2:") || text.starts_with("scrypt:") || text.starts_with("scrypt$")) {
    return parse_werkzeug(text);
  }
  if (text.starts_with("pbkdf2_")) return parse_django(text);
  if (text.starts_with("$2a$") || text.starts_with("$2b$") || text.starts_with("$2y$")) {
    return parse_bcrypt(text);
  }
  if (text.starts_with("$argon2id$"))
    return parse_argon2(ImportedFormat::argon2id, text.substr(10));
  if (text.starts_with("$argon2i$")) return parse_argon2(ImportedFormat::argon2i, text.substr(9));
  if (text.starts_with("$argon2d$")) return parse_argon2(ImportedFormat::argon2d, text.substr(9));
  return "not a known password hash format";
}

std::optional<StoredHash> parse_stored_hash(std::string_view text) {
  if (text.starts_with(kOwnPrefix)) {
    auto own = parse_phc(text);
    if (!own) return std::nullopt;
    return StoredHash{std::move(*own)};
  }
  auto imported = parse_imported(text);
  if (auto* hash = std::get_if<ImportedHash>(&imported)) return StoredHash{std::move(*hash)};
  return std::nullopt;
}

std::optional<std::string> importable_hash_problem(std::string_view text) {
  if (text.starts_with(kOwnPrefix)) {
    if (parse_phc(text)) return std::nullopt;
    return "authd pbkdf2-sha256: malformed, or iterations exceed 10,000,000";
  }
  auto imported = parse_imported(text);
  if (auto* reason = std::get_if<std::string>(&imported)) return std::move(*reason);
  return std::nullopt;
}

}  // namespace authd::auth
