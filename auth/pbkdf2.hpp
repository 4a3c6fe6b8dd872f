#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "auth/pacer.hpp"

namespace authd::auth {

// PBKDF2-HMAC-SHA256 (RFC 8018) into out, any length. Precomputes the HMAC pad states once so
// each iteration costs two raw SHA-256 compressions. Throws std::invalid_argument when
// iterations is 0. With a pacer, gives way every Pacer::kEvery iterations.
void pbkdf2_hmac_sha256(std::string_view password, std::span<const unsigned char> salt,
                        std::uint32_t iterations, std::span<unsigned char> out, const Pacer* pacer);
void pbkdf2_hmac_sha256(std::string_view password, std::span<const unsigned char> salt,
                        std::uint32_t iterations, std::span<unsigned char> out);

// One derivation's inputs and output, for pbkdf2_hmac_sha256_pair.
struct Pbkdf2Task {
  std::string_view password;
  std::span<const unsigned char> salt;
  std::uint32_t iterations;
  std::span<unsigned char> out;
};

// Two derivations, the same as two pbkdf2_hmac_sha256 calls. With the CPU's SHA instructions
// and 32-byte outputs, the two chains run interleaved on this thread: about 1.3 times the
// throughput of one after the other, since a single chain only waits on the instructions'
// latency. With a pacer, both give way together; an abandoned pair throws DerivationAbandoned.
void pbkdf2_hmac_sha256_pair(const Pbkdf2Task& a, const Pbkdf2Task& b, const Pacer* pacer);
// Whether pbkdf2_hmac_sha256_pair is faster here than two single calls.
bool pbkdf2_pairs_run_faster();

// The same function through OpenSSL's PKCS5_PBKDF2_HMAC: the yardstick pbkdf2_hmac_sha256 is
// tested against. Throws std::invalid_argument when iterations is 0, std::runtime_error when
// OpenSSL fails.
void pbkdf2_reference(std::string_view password, std::span<const unsigned char> salt,
                      std::uint32_t iterations, std::span<unsigned char> out);

}  // namespace authd::auth
