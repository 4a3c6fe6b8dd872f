// SHA256_Init/SHA256_Transform are deprecated in OpenSSL 3 but are the only public way to run a
// single compression on OpenSSL's SHA-NI/AVX code without the EVP per-call overhead.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "auth/pbkdf2.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

namespace authd::auth {
namespace {

constexpr std::size_t kBlockSize = SHA256_CBLOCK;
constexpr std::size_t kDigestSize = SHA256_DIGEST_LENGTH;
constexpr std::size_t kStateWords = 8;

using State = std::array<SHA_LONG, kStateWords>;

void store_be32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}

std::uint32_t load_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void store_state(unsigned char* out, const SHA_LONG* h) {
  for (std::size_t i = 0; i < kStateWords; ++i) store_be32(out + 4 * i, h[i]);
}

// The HMAC key block XORed with a pad, hashed once; every later HMAC resumes from here.
SHA256_CTX pad_context(const std::array<unsigned char, kBlockSize>& key_block, unsigned char pad) {
  std::array<unsigned char, kBlockSize> padded{};
  for (std::size_t i = 0; i < kBlockSize; ++i) padded[i] = key_block[i] ^ pad;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, padded.data(), padded.size());
  OPENSSL_cleanse(padded.data(), padded.size());
  return ctx;
}

// A 32-byte message after a 64-byte pad block: one block holding the message, 0x80, zeros and
// the total bit length (96 * 8 = 768), so it can be fed straight to the compression function.
std::array<unsigned char, kBlockSize> make_chained_block() {
  std::array<unsigned char, kBlockSize> block{};
  block[kDigestSize] = 0x80;
  store_be32(block.data() + kBlockSize - 4,
             static_cast<std::uint32_t>((kBlockSize + kDigestSize) * 8));
  return block;
}

class Pbkdf2Keys {
 public:
  explicit Pbkdf2Keys(std::string_view password) {
    std::array<unsigned char, kBlockSize> key_block{};
    // HMAC hashes keys longer than a block first.
    if (password.size() > kBlockSize) {
      SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(),
             key_block.data());
    } else {
      std::copy(password.begin(), password.end(), key_block.begin());
    }
    inner_ = pad_context(key_block, 0x36);
    outer_ = pad_context(key_block, 0x5c);
    OPENSSL_cleanse(key_block.data(), key_block.size());
  }

  ~Pbkdf2Keys() {
    OPENSSL_cleanse(&inner_, sizeof(inner_));
    OPENSSL_cleanse(&outer_, sizeof(outer_));
  }

  Pbkdf2Keys(const Pbkdf2Keys&) = delete;
  Pbkdf2Keys& operator=(const Pbkdf2Keys&) = delete;

  // T_i = U_1 ^ ... ^ U_c for block index i, written to out (32 bytes).
  void derive_block(std::span<const unsigned char> salt, std::uint32_t index,
                    std::uint32_t iterations, unsigned char* out, const Pacer* pacer) const {
    std::array<unsigned char, 4> index_be{};
    store_be32(index_be.data(), index);

    // U_1 = HMAC(P, S || INT(i)): the salt has arbitrary length, so use the buffered API.
    std::array<unsigned char, kBlockSize> block = make_chained_block();
    SHA256_CTX ctx = inner_;
    SHA256_Update(&ctx, salt.data(), salt.size());
    SHA256_Update(&ctx, index_be.data(), index_be.size());
    SHA256_Final(block.data(), &ctx);
    ctx = outer_;
    SHA256_Update(&ctx, block.data(), kDigestSize);
    SHA256_Final(block.data(), &ctx);

    State acc{};
    for (std::size_t w = 0; w < kStateWords; ++w) {
      acc[w] = load_be32(block.data() + 4 * w);
    }

    // U_j = HMAC(P, U_{j-1}): two compressions, each resuming from a pad state.
    std::uint32_t until_pause = Pacer::kEvery;
    bool abandoned = false;
    for (std::uint32_t j = 1; j < iterations; ++j) {
      if (pacer != nullptr && --until_pause == 0) {
        abandoned = !pacer->give_way();
        if (abandoned) break;
        until_pause = Pacer::kEvery;
      }
      std::memcpy(ctx.h, inner_.h, sizeof(ctx.h));
      SHA256_Transform(&ctx, block.data());
      store_state(block.data(), ctx.h);
      std::memcpy(ctx.h, outer_.h, sizeof(ctx.h));
      SHA256_Transform(&ctx, block.data());
      store_state(block.data(), ctx.h);
      for (std::size_t w = 0; w < kStateWords; ++w) acc[w] ^= ctx.h[w];
    }

    if (!abandoned) store_state(out, acc.data());
    OPENSSL_cleanse(&ctx, sizeof(ctx));
    OPENSSL_cleanse(block.data(), block.size());
    OPENSSL_cleanse(acc.data(), sizeof(acc));
    if (abandoned) throw DerivationAbandoned();
  }

 private:
  SHA256_CTX inner_{};
  SHA256_CTX outer_{};
};

const EVP_MD* sha256_md() {
  // Fetched once: implicit fetches take a lock on every call.
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) throw std::runtime_error("EVP_MD_fetch(SHA256) failed");
    return fetched;
  }();
  return md;
}

}  // namespace

void pbkdf2_hmac_sha256(std::string_view password, std::span<const unsigned char> salt,
                        std::uint32_t iterations, std::span<unsigned char> out,
                        const Pacer* pacer) {
  if (iterations == 0) throw std::invalid_argument("PBKDF2 needs at least one iteration");
  // The block index is a 32-bit counter (RFC 8018 caps dkLen at (2^32 - 1) * hLen).
  if (out.size() / kDigestSize >= 0xffffffffu) throw std::length_error("PBKDF2 output too long");

  const Pbkdf2Keys keys(password);
  std::array<unsigned char, kDigestSize> block{};
  std::uint32_t index = 1;
  for (std::size_t offset = 0; offset < out.size(); offset += kDigestSize, ++index) {
    const std::size_t take = std::min(kDigestSize, out.size() - offset);
    if (take == kDigestSize) {
      keys.derive_block(salt, index, iterations, out.data() + offset, pacer);
    } else {
      keys.derive_block(salt, index, iterations, block.data(), pacer);
      std::copy_n(block.begin(), take, out.begin() + static_cast<std::ptrdiff_t>(offset));
    }
  }
  OPENSSL_cleanse(block.data(), block.size());
}

void pbkdf2_hmac_sha256(std::string_view password, std::span<const unsigned char> salt,
                        std::uint32_t iterations, std::span<unsigned char> out) {
  pbkdf2_hmac_sha256(password, salt, iterations, out, nullptr);
}

void pbkdf2_reference(std::string_view password, std::span<const unsigned char> salt,
                      std::uint32_t iterations, std::span<unsigned char> out) {
  if (iterations == 0) throw std::invalid_argument("PBKDF2 needs at least one iteration");
  if (out.empty()) return;
  if (password.size() > INT_MAX || salt.size() > INT_MAX || iterations > INT_MAX ||
      out.size() > INT_MAX) {
    throw std::length_error("PBKDF2 argument too large for PKCS5_PBKDF2_HMAC");
  }
  static const unsigned char kEmpty = 0;
  const unsigned char* salt_data = salt.empty() ? &kEmpty : salt.data();
  const char* password_data = password.empty() ? "" : password.data();
  if (PKCS5_PBKDF2_HMAC(password_data, static_cast<int>(password.size()), salt_data,
                        static_cast<int>(salt.size()), static_cast<int>(iterations), sha256_md(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
  }
}

}  // namespace authd::auth
