#include "auth/imported_hash.hpp"

#include <argon2.h>
#include <crypt.h>

#include <cstring>
#include <memory>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>

// How each imported format is checked: through OpenSSL, libxcrypt and libargon2, never by hand.
namespace authd::auth {
namespace {

const EVP_MD* digest_of(std::string_view digest) {
  if (digest == "sha1") return EVP_sha1();
  if (digest == "sha224") return EVP_sha224();
  if (digest == "sha256") return EVP_sha256();
  if (digest == "sha384") return EVP_sha384();
  if (digest == "sha512") return EVP_sha512();
  return nullptr;
}

bool verify_pbkdf2(std::string_view password, const DerivedKeyHash& stored) {
  const EVP_MD* md = digest_of(stored.digest);
  if (md == nullptr || stored.key.empty() || stored.cost == 0) return false;
  std::vector<unsigned char> computed(stored.key.size());
  const int ok =
      PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(stored.salt.data()),
                        static_cast<int>(stored.salt.size()), static_cast<int>(stored.cost), md,
                        static_cast<int>(computed.size()), computed.data());
  const bool equal =
      ok == 1 && CRYPTO_memcmp(computed.data(), stored.key.data(), computed.size()) == 0;
  OPENSSL_cleanse(computed.data(), computed.size());
  if (ok != 1) throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
  return equal;
}

bool verify_scrypt(std::string_view password, const DerivedKeyHash& stored) {
  if (stored.key.empty()) return false;
  // OpenSSL needs 128 * r * (N + 2) bytes for its table and 128 * r * p for the blocks; the
  // bounds keep this near 2 GiB at most. A little more, so rounding never refuses a valid hash.
  const std::uint64_t maxmem =
      128 * std::uint64_t{stored.r} * (stored.cost + 2 + stored.p) + (std::uint64_t{1} << 20);
  std::vector<unsigned char> computed(stored.key.size());
  const int ok =
      EVP_PBE_scrypt(password.empty() ? "" : password.data(), password.size(),
                     reinterpret_cast<const unsigned char*>(stored.salt.data()), stored.salt.size(),
                     stored.cost, stored.r, stored.p, maxmem, computed.data(), computed.size());
  const bool equal =
      ok == 1 && CRYPTO_memcmp(computed.data(), stored.key.data(), computed.size()) == 0;
  OPENSSL_cleanse(computed.data(), computed.size());
  if (ok != 1) throw std::runtime_error("EVP_PBE_scrypt failed");
  return equal;
}

bool verify_bcrypt(std::string_view password, const BcryptHash& stored) {
  // crypt reads a C string; the caller has refused NULs.
  std::string phrase(password);
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(phrase.c_str(), stored.encoded.c_str(), data.get(),
                             static_cast<int>(sizeof(crypt_data)));
  bool equal = false;
  if (out != nullptr && std::strlen(out) == stored.encoded.size()) {
    equal = CRYPTO_memcmp(out, stored.encoded.data(), stored.encoded.size()) == 0;
  }
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  OPENSSL_cleanse(phrase.data(), phrase.size());
  if (out == nullptr) throw std::runtime_error("crypt_rn failed");
  return equal;
}

argon2_type argon2_type_of(ImportedFormat format) {
  switch (format) {
    case ImportedFormat::argon2i:
      return Argon2_i;
    case ImportedFormat::argon2d:
      return Argon2_d;
    default:
      return Argon2_id;
  }
}

bool verify_argon2(std::string_view password, ImportedFormat format, const Argon2Hash& stored) {
  // argon2_ctx rather than argon2_verify: one thread per check (argon2_verify would start one
  // per lane, past the hash pool's bound), and the comparison is ours.
  std::string pwd(password);
  std::vector<unsigned char> salt = stored.salt;
  std::vector<unsigned char> computed(stored.hash.size());
  argon2_context context{};
  context.out = computed.data();
  context.outlen = static_cast<std::uint32_t>(computed.size());
  context.pwd = reinterpret_cast<std::uint8_t*>(pwd.data());
  context.pwdlen = static_cast<std::uint32_t>(pwd.size());
  context.salt = salt.data();
  context.saltlen = static_cast<std::uint32_t>(salt.size());
  context.t_cost = stored.passes;
  context.m_cost = stored.memory_kib;
  context.lanes = stored.lanes;
  context.threads = 1;
  context.version = stored.version;
  context.flags = ARGON2_DEFAULT_FLAGS;
  const int rc = argon2_ctx(&context, argon2_type_of(format));
  const bool equal =
      rc == ARGON2_OK && CRYPTO_memcmp(computed.data(), stored.hash.data(), computed.size()) == 0;
  OPENSSL_cleanse(computed.data(), computed.size());
  OPENSSL_cleanse(pwd.data(), pwd.size());
  if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) throw std::runtime_error("argon2: out of memory");
  return equal;
}

}  // namespace

bool verify_imported(std::string_view password, const ImportedHash& stored) {
  if (password.find('\0') != std::string_view::npos) return false;
  switch (stored.format) {
    case ImportedFormat::werkzeug_pbkdf2:
    case ImportedFormat::django_pbkdf2:
      return verify_pbkdf2(password, std::get<DerivedKeyHash>(stored.params));
    case ImportedFormat::werkzeug_scrypt:
      return verify_scrypt(password, std::get<DerivedKeyHash>(stored.params));
    case ImportedFormat::bcrypt:
      return verify_bcrypt(password, std::get<BcryptHash>(stored.params));
    case ImportedFormat::argon2i:
    case ImportedFormat::argon2d:
    case ImportedFormat::argon2id:
      return verify_argon2(password, stored.format, std::get<Argon2Hash>(stored.params));
  }
  return false;
}

}  // namespace authd::auth
