#include "mfa/sealed.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace authd::mfa {

namespace {

constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;
constexpr std::string_view kVersion = "v1";

struct CipherFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Cipher = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;

std::string hex(std::span<const unsigned char> data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (const unsigned char b : data) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::optional<std::vector<unsigned char>> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
  };
  std::vector<unsigned char> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<unsigned char>(hi << 4 | lo));
  }
  return out;
}

std::optional<std::vector<unsigned char>> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::vector<unsigned char> out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char ch : text) {
    int v;
    if (ch >= 'A' && ch <= 'Z')
      v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      v = ch - '0' + 52;
    else if (ch == '+')
      v = 62;
    else if (ch == '/')
      v = 63;
    else
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      out.push_back(static_cast<unsigned char>((buffer >> (bits - 8)) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

}  // namespace

std::optional<SecretKey> parse_secret_key(std::string_view base64) {
  auto bytes = base64_decode(base64);
  if (!bytes || bytes->size() != 32) return std::nullopt;
  SecretKey key;
  std::copy(bytes->begin(), bytes->end(), key.bytes.begin());
  OPENSSL_cleanse(bytes->data(), bytes->size());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(key.bytes.data(), key.bytes.size(), digest);
  key.id = hex(std::span<const unsigned char>(digest, 4));
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
  return std::string(kVersion) + ":" + current_.id + ":" + hex(blob);
}

std::optional<std::vector<unsigned char>> Keyring::open(std::string_view sealed,
                                                        std::string_view context) const {
  if (!sealed.starts_with(std::string(kVersion) + ":")) return std::nullopt;
  sealed.remove_prefix(kVersion.size() + 1);
  const auto colon = sealed.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const SecretKey* key = key_for(sealed.substr(0, colon));
  if (!key) return std::nullopt;
  auto blob = unhex(sealed.substr(colon + 1));
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
