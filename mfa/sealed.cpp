#include "mfa/sealed.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "db/digest.hpp"

namespace authd::mfa {

namespace {

constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;
constexpr std::string_view kVersion = "v1";

struct CipherFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Cipher = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;

}  // namespace

SecretKey secret_key(const std::array<unsigned char, 32>& bytes) {
  SecretKey key{bytes, {}};
  const db::Sha256Digest digest = db::sha256(key.bytes.data(), key.bytes.size());
  key.id = db::to_hex(digest.data(), 4);
  return key;
}

Keyring::Keyring(SecretKey current, std::vector<SecretKey> old)
    : current_(std::move(current)), old_(std::move(old)) {}

const SecretKey* Keyring::key_for(std::string_view id) const {
  if (id == current_.id) return &current_;
  for (const auto& k : old_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

std::string Keyring::seal(std::span<const unsigned char> plaintext,
                          std::string_view context) const {
  std::vector<unsigned char> blob(kNonce + plaintext.size() + kTag);
  if (RAND_bytes(blob.data(), static_cast<int>(kNonce)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  Cipher ctx(EVP_CIPHER_CTX_new());
  int length = 0;
  const bool ok = ctx &&
                  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, current_.bytes.data(),
                                     blob.data()) == 1 &&
                  EVP_EncryptUpdate(ctx.get(), nullptr, &length,
                                    reinterpret_cast<const unsigned char*>(context.data()),
                                    static_cast<int>(context.size())) == 1 &&
                  EVP_EncryptUpdate(ctx.get(), blob.data() + kNonce, &length, plaintext.data(),
                                    static_cast<int>(plaintext.size())) == 1 &&
                  EVP_EncryptFinal_ex(ctx.get(), blob.data() + kNonce + length, &length) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTag),
                                      blob.data() + kNonce + plaintext.size()) == 1;
  if (!ok) throw std::runtime_error("AES-256-GCM sealing failed");
  return std::string(kVersion) + ":" + current_.id + ":" + db::to_hex(blob.data(), blob.size());
}

std::optional<std::vector<unsigned char>> Keyring::open(std::string_view sealed,
                                                        std::string_view context) const {
  if (!sealed.starts_with(std::string(kVersion) + ":")) return std::nullopt;
  sealed.remove_prefix(kVersion.size() + 1);
  const auto colon = sealed.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const SecretKey* key = key_for(sealed.substr(0, colon));
  if (!key) return std::nullopt;
  auto blob = db::from_hex(sealed.substr(colon + 1));
  if (!blob || blob->size() < kNonce + kTag) return std::nullopt;
  const std::size_t text = blob->size() - kNonce - kTag;
  std::vector<unsigned char> plain(text);
  Cipher ctx(EVP_CIPHER_CTX_new());
  int length = 0;
  const bool ok = ctx &&
                  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key->bytes.data(),
                                     blob->data()) == 1 &&
                  EVP_DecryptUpdate(ctx.get(), nullptr, &length,
                                    reinterpret_cast<const unsigned char*>(context.data()),
                                    static_cast<int>(context.size())) == 1 &&
                  EVP_DecryptUpdate(ctx.get(), plain.data(), &length, blob->data() + kNonce,
                                    static_cast<int>(text)) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTag),
                                      blob->data() + kNonce + text) == 1 &&
                  EVP_DecryptFinal_ex(ctx.get(), plain.data() + length, &length) == 1;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return std::nullopt;
  }
  return plain;
}

bool Keyring::is_old(std::string_view sealed) const {
  const std::string prefix = std::string(kVersion) + ":" + current_.id + ":";
  return !sealed.starts_with(prefix);
}

}  // namespace authd::mfa
