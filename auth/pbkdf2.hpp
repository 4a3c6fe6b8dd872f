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

// The same function through OpenSSL's PKCS5_PBKDF2_HMAC: the yardstick pbkdf2_hmac_sha256 is
// tested against. Throws std::invalid_argument when iterations is 0, std::runtime_error when
// OpenSSL fails.
void pbkdf2_reference(std::string_view password, std::span<const unsigned char> salt,
                      std::uint32_t iterations, std::span<unsigned char> out);

}  // namespace authd::auth
