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

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define AUTHD_SHA_NI 1
#define AUTHD_SHA_NI_TARGET __attribute__((target("sha,sse4.1,ssse3")))
#endif

#include "db/digest.hpp"

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

#if AUTHD_SHA_NI

bool cpu_has_sha_ni() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  const bool sse = (c & bit_SSE4_1) != 0 && (c & bit_SSSE3) != 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  return sse && (b & bit_SHA) != 0;
}

// Two PBKDF2 chains at once on the CPU's SHA instructions. One chain is a strict sequence of
// compressions, each waiting for the last: OpenSSL's code already runs it as fast as the
// instructions' latency allows. Two independent chains interleaved keep the SHA unit busy while
// the other waits, for about 1.3 times the throughput.
alignas(16) constexpr std::uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

// The state as the SHA instructions hold it: ABEF has the lanes (F, E, B, A), CDGH (H, G, D, C).
struct VectorState {
  __m128i abef;
  __m128i cdgh;
};

AUTHD_SHA_NI_TARGET VectorState to_vector_state(const SHA_LONG* h) {
  __m128i abcd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
  __m128i efgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4));
  abcd = _mm_shuffle_epi32(abcd, 0xB1);  // B A D C
  efgh = _mm_shuffle_epi32(efgh, 0x1B);  // H G F E
  return {_mm_alignr_epi8(abcd, efgh, 8), _mm_blend_epi16(efgh, abcd, 0xF0)};
}

// One compression of a block whose first eight words are w0 (words 0-3) and w1 (4-7), followed
// by the padding of a 96-byte message: the block of every PBKDF2 iteration after the first.
// Returns the digest's words as two message vectors (A B C D) and (E F G H), ready to be the
// next block.
AUTHD_SHA_NI_TARGET inline void compress_chained(const VectorState& from, __m128i& w0,
                                                 __m128i& w1) {
  const auto* k = reinterpret_cast<const __m128i*>(kRoundConstants);
  __m128i w[16];
  w[0] = w0;
  w[1] = w1;
  w[2] = _mm_set_epi32(0, 0, 0, static_cast<int>(0x80000000u));
  w[3] = _mm_set_epi32(static_cast<int>((kBlockSize + kDigestSize) * 8), 0, 0, 0);
#pragma GCC unroll 12
  for (int g = 4; g < 16; ++g) {
    const __m128i sum = _mm_add_epi32(_mm_sha256msg1_epu32(w[g - 4], w[g - 3]),
                                      _mm_alignr_epi8(w[g - 1], w[g - 2], 4));
    w[g] = _mm_sha256msg2_epu32(sum, w[g - 1]);
  }
  __m128i abef = from.abef;
  __m128i cdgh = from.cdgh;
#pragma GCC unroll 16
  for (int g = 0; g < 16; ++g) {
    __m128i kw = _mm_add_epi32(w[g], _mm_load_si128(k + g));
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, kw);
    kw = _mm_shuffle_epi32(kw, 0x0E);
    abef = _mm_sha256rnds2_epu32(abef, cdgh, kw);
  }
  abef = _mm_add_epi32(abef, from.abef);
  cdgh = _mm_add_epi32(cdgh, from.cdgh);
  w0 = _mm_shuffle_epi32(_mm_unpackhi_epi64(abef, cdgh), 0xB1);  // A B C D
  w1 = _mm_shuffle_epi32(_mm_unpacklo_epi64(abef, cdgh), 0xB1);  // E F G H
}

// Iterations 2..n of two one-block derivations, interleaved while both last: each acc holds U_1
// on entry and the XOR of all U on return. False when the pacer ended the derivations.
AUTHD_SHA_NI_TARGET bool chain_pair_sha_ni(const SHA_LONG* inner_a, const SHA_LONG* outer_a,
                                           State& acc_a, std::uint32_t iterations_a,
                                           const SHA_LONG* inner_b, const SHA_LONG* outer_b,
                                           State& acc_b, std::uint32_t iterations_b,
                                           const Pacer* pacer) {
  const VectorState in_a = to_vector_state(inner_a), out_a = to_vector_state(outer_a);
  const VectorState in_b = to_vector_state(inner_b), out_b = to_vector_state(outer_b);
  auto load = [](const State& s, std::size_t at) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + at));
  };
  __m128i ua0 = load(acc_a, 0), ua1 = load(acc_a, 4), xa0 = ua0, xa1 = ua1;
  __m128i ub0 = load(acc_b, 0), ub1 = load(acc_b, 4), xb0 = ub0, xb1 = ub1;
  const std::uint32_t both = std::min(iterations_a, iterations_b);
  const std::uint32_t total = std::max(iterations_a, iterations_b);
  // A paired iteration takes about twice as long: pause twice as often in iterations.
  constexpr std::uint32_t kPairEvery = Pacer::kEvery / 2;
  std::uint32_t until_pause = kPairEvery;
  bool finished = true;
  for (std::uint32_t j = 1; j < total; ++j) {
    if (pacer != nullptr && --until_pause == 0) {
      if (!pacer->give_way()) {
        finished = false;
        break;
      }
      until_pause = kPairEvery;
    }
    if (j < both) {
      compress_chained(in_a, ua0, ua1);
      compress_chained(in_b, ub0, ub1);
      compress_chained(out_a, ua0, ua1);
      compress_chained(out_b, ub0, ub1);
      xa0 = _mm_xor_si128(xa0, ua0);
      xa1 = _mm_xor_si128(xa1, ua1);
      xb0 = _mm_xor_si128(xb0, ub0);
      xb1 = _mm_xor_si128(xb1, ub1);
    } else if (j < iterations_a) {
      compress_chained(in_a, ua0, ua1);
      compress_chained(out_a, ua0, ua1);
      xa0 = _mm_xor_si128(xa0, ua0);
      xa1 = _mm_xor_si128(xa1, ua1);
    } else {
      compress_chained(in_b, ub0, ub1);
      compress_chained(out_b, ub0, ub1);
      xb0 = _mm_xor_si128(xb0, ub0);
      xb1 = _mm_xor_si128(xb1, ub1);
    }
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(acc_a.data()), xa0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(acc_a.data() + 4), xa1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(acc_b.data()), xb0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(acc_b.data() + 4), xb1);
  // The chains' intermediate values are secrets: leave none behind in these registers.
  ua0 = ua1 = ub0 = ub1 = xa0 = xa1 = xb0 = xb1 = _mm_setzero_si128();
  return finished;
}

#endif  // AUTHD_SHA_NI

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

  // U_1 = HMAC(P, S || INT(i)) as state words: the salt has arbitrary length, so this uses
  // the buffered API.
  State first_u(std::span<const unsigned char> salt, std::uint32_t index) const {
    std::array<unsigned char, 4> index_be{};
    store_be32(index_be.data(), index);
    std::array<unsigned char, kDigestSize> digest{};
    SHA256_CTX ctx = inner_;
    SHA256_Update(&ctx, salt.data(), salt.size());
    SHA256_Update(&ctx, index_be.data(), index_be.size());
    SHA256_Final(digest.data(), &ctx);
    ctx = outer_;
    SHA256_Update(&ctx, digest.data(), kDigestSize);
    SHA256_Final(digest.data(), &ctx);
    State u{};
    for (std::size_t w = 0; w < kStateWords; ++w) u[w] = load_be32(digest.data() + 4 * w);
    OPENSSL_cleanse(&ctx, sizeof(ctx));
    OPENSSL_cleanse(digest.data(), digest.size());
    return u;
  }

  const SHA_LONG* inner_state() const { return inner_.h; }
  const SHA_LONG* outer_state() const { return outer_.h; }

  // T_i = U_1 ^ ... ^ U_c for block index i, written to out (32 bytes).
  void derive_block(std::span<const unsigned char> salt, std::uint32_t index,
                    std::uint32_t iterations, unsigned char* out, const Pacer* pacer) const {
    State acc = first_u(salt, index);
    std::array<unsigned char, kBlockSize> block = make_chained_block();
    store_state(block.data(), acc.data());
    SHA256_CTX ctx = inner_;

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

bool pbkdf2_pairs_run_faster() {
#if AUTHD_SHA_NI
  static const bool available = cpu_has_sha_ni();
  return available;
#else
  return false;
#endif
}

void pbkdf2_hmac_sha256_pair(const Pbkdf2Task& a, const Pbkdf2Task& b, const Pacer* pacer) {
  if (a.iterations == 0 || b.iterations == 0) {
    throw std::invalid_argument("PBKDF2 needs at least one iteration");
  }
#if AUTHD_SHA_NI
  if (pbkdf2_pairs_run_faster() && a.out.size() == kDigestSize && b.out.size() == kDigestSize) {
    const Pbkdf2Keys keys_a(a.password);
    const Pbkdf2Keys keys_b(b.password);
    State acc_a = keys_a.first_u(a.salt, 1);
    State acc_b = keys_b.first_u(b.salt, 1);
    const bool finished =
        chain_pair_sha_ni(keys_a.inner_state(), keys_a.outer_state(), acc_a, a.iterations,
                          keys_b.inner_state(), keys_b.outer_state(), acc_b, b.iterations, pacer);
    if (finished) {
      store_state(a.out.data(), acc_a.data());
      store_state(b.out.data(), acc_b.data());
    }
    OPENSSL_cleanse(acc_a.data(), sizeof(acc_a));
    OPENSSL_cleanse(acc_b.data(), sizeof(acc_b));
    if (!finished) throw DerivationAbandoned();
    return;
  }
#endif
  pbkdf2_hmac_sha256(a.password, a.salt, a.iterations, a.out, pacer);
  pbkdf2_hmac_sha256(b.password, b.salt, b.iterations, b.out, pacer);
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
                        static_cast<int>(salt.size()), static_cast<int>(iterations),
                        db::sha256_md(), static_cast<int>(out.size()), out.data()) != 1) {
    throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
  }
}

}  // namespace authd::auth
