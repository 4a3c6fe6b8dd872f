#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "auth/base64.hpp"
#include "auth/password.hpp"
#include "auth/pbkdf2.hpp"

using namespace authd::auth;

namespace {

std::vector<unsigned char> sequence(std::size_t size, unsigned char first = 0) {
  std::vector<unsigned char> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<unsigned char>(first + i);
  return out;
}

// A PHC string with the given parts spelled exactly as passed.
std::string phc(std::string_view iterations, std::string_view salt, std::string_view key) {
  return "$pbkdf2-sha256$i=" + std::string(iterations) + "$" + std::string(salt) + "$" +
         std::string(key);
}

const std::string kSalt16 = base64_encode(sequence(16));
const std::string kKey32 = base64_encode(sequence(32, 100));

}  // namespace

TEST_CASE("format_phc writes the documented layout", "[auth][password]") {
  const PasswordHash hash{1000, sequence(16), sequence(32, 100)};
  const std::string text = format_phc(hash);
  CHECK(text == "$pbkdf2-sha256$i=1000$AAECAwQFBgcICQoLDA0ODw$" + kKey32);
  CHECK(text.find('=', std::string_view("$pbkdf2-sha256$i=").size()) == std::string::npos);
}

TEST_CASE("format_phc and parse_phc round trip", "[auth][password]") {
  for (const std::uint32_t iterations : {1u, 1000u, 600000u, kMaxIterations}) {
    for (const std::size_t salt_size : {kMinSaltBytes, kSaltBytes, kMaxSaltBytes}) {
      for (const std::size_t key_size : {kMinKeyBytes, kKeyBytes, kMaxKeyBytes}) {
        const PasswordHash hash{iterations, sequence(salt_size, 7), sequence(key_size, 200)};
        const auto parsed = parse_phc(format_phc(hash));
        INFO(format_phc(hash));
        REQUIRE(parsed.has_value());
        CHECK(parsed->iterations == iterations);
        CHECK(parsed->salt == hash.salt);
        CHECK(parsed->key == hash.key);
      }
    }
  }
}

TEST_CASE("parse_phc rejects a wrong prefix", "[auth][password]") {
  const std::string tail = "1000$" + kSalt16 + "$" + kKey32;
  CHECK(parse_phc("$pbkdf2-sha256$i=" + tail).has_value());
  CHECK_FALSE(parse_phc("$pbkdf2-sha512$i=" + tail).has_value());
  CHECK_FALSE(parse_phc("$pbkdf2$i=" + tail).has_value());
  CHECK_FALSE(parse_phc("pbkdf2-sha256$i=" + tail).has_value());
  CHECK_FALSE(parse_phc("$PBKDF2-SHA256$i=" + tail).has_value());
  CHECK_FALSE(parse_phc("$pbkdf2-sha256$rounds=" + tail).has_value());
  CHECK_FALSE(parse_phc(" $pbkdf2-sha256$i=" + tail).has_value());
}

TEST_CASE("parse_phc rejects missing fields, a trailing '$' and the empty string",
          "[auth][password]") {
  CHECK_FALSE(parse_phc("").has_value());
  CHECK_FALSE(parse_phc("$pbkdf2-sha256$i=").has_value());
  CHECK_FALSE(parse_phc("$pbkdf2-sha256$i=1000").has_value());
  CHECK_FALSE(parse_phc("$pbkdf2-sha256$i=1000$" + kSalt16).has_value());
  CHECK_FALSE(parse_phc("$pbkdf2-sha256$i=1000$" + kSalt16 + "$").has_value());
  CHECK_FALSE(parse_phc("$pbkdf2-sha256$i=1000$$" + kKey32).has_value());
  CHECK_FALSE(parse_phc("$pbkdf2-sha256$i=$" + kSalt16 + "$" + kKey32).has_value());
  CHECK_FALSE(parse_phc(phc("1000", kSalt16, kKey32) + "$").has_value());
  CHECK_FALSE(parse_phc(phc("1000", kSalt16, kKey32) + "$" + kKey32).has_value());
}

TEST_CASE("parse_phc rejects padded or invalid base64", "[auth][password]") {
  REQUIRE(kSalt16.size() == 22);
  REQUIRE(kKey32.size() == 43);
  CHECK_FALSE(parse_phc(phc("1000", kSalt16 + "==", kKey32)).has_value());
  CHECK_FALSE(parse_phc(phc("1000", kSalt16, kKey32 + "=")).has_value());
  CHECK_FALSE(parse_phc(phc("1000", kSalt16.substr(0, 21) + "-", kKey32)).has_value());
  CHECK_FALSE(parse_phc(phc("1000", kSalt16, kKey32.substr(0, 42) + "_")).has_value());
  // 25 characters cannot be base64; "Dx" instead of "Dw" sets unused trailing bits.
  CHECK_FALSE(parse_phc(phc("1000", kSalt16 + "AAA", kKey32)).has_value());
  REQUIRE(kSalt16.ends_with("Dw"));
  CHECK_FALSE(parse_phc(phc("1000", kSalt16.substr(0, 21) + "x", kKey32)).has_value());
}

TEST_CASE("parse_phc accepts only canonical iteration counts in range", "[auth][password]") {
  CHECK(parse_phc(phc("1", kSalt16, kKey32)).has_value());
  CHECK(parse_phc(phc("10000000", kSalt16, kKey32)).has_value());
  for (const std::string bad :
       {"0", "00", "01000", "10000001", "99999999", "100000000", "4294967297", "-1", "+1000", "1e3",
        "1000 ", " 1000", "0x10", "１"}) {
    INFO(bad);
    CHECK_FALSE(parse_phc(phc(bad, kSalt16, kKey32)).has_value());
  }
}

TEST_CASE("parse_phc enforces the salt and key size limits", "[auth][password]") {
  const auto with_salt = [](std::size_t size) {
    return parse_phc(phc("1000", base64_encode(sequence(size)), kKey32));
  };
  const auto with_key = [](std::size_t size) {
    return parse_phc(phc("1000", kSalt16, base64_encode(sequence(size))));
  };
  CHECK_FALSE(with_salt(kMinSaltBytes - 1).has_value());
  CHECK(with_salt(kMinSaltBytes).has_value());
  CHECK(with_salt(kMaxSaltBytes).has_value());
  CHECK_FALSE(with_salt(kMaxSaltBytes + 1).has_value());
  CHECK_FALSE(with_salt(0).has_value());
  CHECK_FALSE(with_key(kMinKeyBytes - 1).has_value());
  CHECK(with_key(kMinKeyBytes).has_value());
  CHECK(with_key(kMaxKeyBytes).has_value());
  CHECK_FALSE(with_key(kMaxKeyBytes + 1).has_value());
}

TEST_CASE("hash_password makes a parseable PBKDF2 hash with a 16-byte salt", "[auth][password]") {
  const std::string text = hash_password("correct horse battery staple", 1000);
  CHECK_THAT(text, Catch::StartsWith("$pbkdf2-sha256$i=1000$"));
  const auto parsed = parse_phc(text);
  REQUIRE(parsed.has_value());
  CHECK(parsed->iterations == 1000);
  CHECK(parsed->salt.size() == 16);
  CHECK(parsed->key.size() == 32);
  std::vector<unsigned char> expected(32);
  pbkdf2_reference("correct horse battery staple", parsed->salt, 1000, expected);
  CHECK(parsed->key == expected);
}

TEST_CASE("two hashes of one password have different salts", "[auth][password]") {
  const auto first = parse_phc(hash_password("same password", 100));
  const auto second = parse_phc(hash_password("same password", 100));
  REQUIRE(first.has_value());
  REQUIRE(second.has_value());
  CHECK(first->salt != second->salt);
  CHECK(first->key != second->key);
}

TEST_CASE("hash_password with zero iterations throws", "[auth][password]") {
  CHECK_THROWS_AS(hash_password("password", 0), std::invalid_argument);
}

TEST_CASE("verify_password accepts the right password only", "[auth][password]") {
  const auto stored = parse_phc(hash_password("Tr0ub4dor&3 é", 500));
  REQUIRE(stored.has_value());
  CHECK(verify_password("Tr0ub4dor&3 é", *stored));
  CHECK_FALSE(verify_password("Tr0ub4dor&3 e", *stored));
  CHECK_FALSE(verify_password("Tr0ub4dor&3", *stored));
  CHECK_FALSE(verify_password("tr0ub4dor&3 é", *stored));
  CHECK_FALSE(verify_password("", *stored));
}

TEST_CASE("verify_password checks a hash made elsewhere", "[auth][password]") {
  PasswordHash stored{3, sequence(16), std::vector<unsigned char>(32)};
  pbkdf2_reference("hunter2hunter2", stored.salt, stored.iterations, stored.key);
  CHECK(verify_password("hunter2hunter2", stored));
  CHECK(verify_password("hunter2hunter2", *parse_phc(format_phc(stored))));
  stored.key.back() ^= 1;
  CHECK_FALSE(verify_password("hunter2hunter2", stored));
}

TEST_CASE("verify_password refuses hand-built hashes without a key or cost", "[auth][password]") {
  CHECK_FALSE(verify_password("", PasswordHash{1000, sequence(16), {}}));
  CHECK_FALSE(verify_password("anything", PasswordHash{1000, sequence(16), {}}));
  CHECK_FALSE(verify_password("anything", PasswordHash{0, sequence(16), sequence(32)}));
}

TEST_CASE("dummy_phc parses and does not verify common passwords", "[auth][password]") {
  const auto dummy = parse_phc(dummy_phc(1000));
  REQUIRE(dummy.has_value());
  CHECK(dummy->iterations == 1000);
  CHECK(dummy->salt.size() == kSaltBytes);
  CHECK(dummy->key.size() == kKeyBytes);
  CHECK_FALSE(verify_password("password", *dummy));
  CHECK_FALSE(verify_password("", *dummy));
  CHECK(parse_phc(dummy_phc(600000))->iterations == 600000);
}
