#include <catch2/catch.hpp>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "auth/pbkdf2.hpp"

using namespace authd::auth;

namespace {

using Derive = void (*)(std::string_view, std::span<const unsigned char>, std::uint32_t,
                        std::span<unsigned char>);

std::vector<unsigned char> from_hex(std::string_view hex) {
  std::vector<unsigned char> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(
        static_cast<unsigned char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::vector<unsigned char> derive(Derive f, std::string_view password, std::string_view salt,
                                  std::uint32_t iterations, std::size_t length) {
  std::vector<unsigned char> out(length);
  const std::vector<unsigned char> salt_bytes(salt.begin(), salt.end());
  f(password, salt_bytes, iterations, out);
  return out;
}

}  // namespace

TEST_CASE("RFC 7914 PBKDF2-HMAC-SHA256 vectors match", "[auth][pbkdf2]") {
  const auto [name, f] = GENERATE(table<const char*, Derive>(
      {{"pbkdf2_hmac_sha256", pbkdf2_hmac_sha256}, {"pbkdf2_reference", pbkdf2_reference}}));
  INFO(name);
  CHECK(derive(f, "passwd", "salt", 1, 64) ==
        from_hex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                 "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"));
  CHECK(derive(f, "Password", "NaCl", 80000, 64) ==
        from_hex("4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                 "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"));
}

TEST_CASE("widely published vectors with odd lengths match", "[auth][pbkdf2]") {
  const auto [name, f] = GENERATE(table<const char*, Derive>(
      {{"pbkdf2_hmac_sha256", pbkdf2_hmac_sha256}, {"pbkdf2_reference", pbkdf2_reference}}));
  INFO(name);
  CHECK(derive(f, "password", "salt", 2, 32) ==
        from_hex("ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"));
  CHECK(derive(f, "passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 40) ==
        from_hex("348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1"
                 "c635518c7dac47e9"));
}

TEST_CASE("the fast PBKDF2 equals PKCS5_PBKDF2_HMAC on random inputs", "[auth][pbkdf2]") {
  std::mt19937 rng(8018);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> password_length(0, 200);
  std::uniform_int_distribution<std::size_t> salt_length(0, 64);
  std::uniform_int_distribution<std::uint32_t> iterations(1, 50);
  std::uniform_int_distribution<std::size_t> output_length(1, 100);
  int long_passwords = 0;
  for (int round = 0; round < 200; ++round) {
    std::string password(password_length(rng), '\0');
    for (auto& c : password) c = static_cast<char>(byte(rng));
    std::vector<unsigned char> salt(salt_length(rng));
    for (auto& b : salt) b = static_cast<unsigned char>(byte(rng));
    const std::uint32_t count = iterations(rng);
    const std::size_t length = output_length(rng);
    if (password.size() > 64) ++long_passwords;

    std::vector<unsigned char> fast(length, 0xaa);
    std::vector<unsigned char> reference(length, 0x55);
    pbkdf2_hmac_sha256(password, salt, count, fast);
    pbkdf2_reference(password, salt, count, reference);
    INFO("password " << password.size() << " bytes, salt " << salt.size() << " bytes, " << count
                     << " iterations, " << length << " bytes out");
    REQUIRE(fast == reference);
  }
  CHECK(long_passwords > 20);
}

TEST_CASE("password lengths around the HMAC block size match the reference", "[auth][pbkdf2]") {
  const std::vector<unsigned char> salt = {1, 2, 3, 4, 5, 6, 7, 8};
  for (const std::size_t size : {0, 1, 31, 32, 63, 64, 65, 127, 128, 129}) {
    const std::string password(size, static_cast<char>('a' + size % 26));
    for (const std::size_t length : {1, 31, 32, 33, 64, 65}) {
      std::vector<unsigned char> fast(length);
      std::vector<unsigned char> reference(length);
      pbkdf2_hmac_sha256(password, salt, 3, fast);
      pbkdf2_reference(password, salt, 3, reference);
      INFO("password " << size << " bytes, " << length << " bytes out");
      CHECK(fast == reference);
    }
  }
}

TEST_CASE("a shorter output is a prefix of a longer one", "[auth][pbkdf2]") {
  const auto full = derive(pbkdf2_hmac_sha256, "passwd", "salt", 5, 96);
  const auto part = derive(pbkdf2_hmac_sha256, "passwd", "salt", 5, 40);
  CHECK(std::vector<unsigned char>(full.begin(), full.begin() + 40) == part);
}

TEST_CASE("password, salt and iterations all change the key", "[auth][pbkdf2]") {
  const auto base = derive(pbkdf2_hmac_sha256, "passwd", "salt", 2, 32);
  CHECK(derive(pbkdf2_hmac_sha256, "passwe", "salt", 2, 32) != base);
  CHECK(derive(pbkdf2_hmac_sha256, "passwd", "salu", 2, 32) != base);
  CHECK(derive(pbkdf2_hmac_sha256, "passwd", "salt", 3, 32) != base);
}

TEST_CASE("zero iterations throw", "[auth][pbkdf2]") {
  std::vector<unsigned char> out(32);
  const std::vector<unsigned char> salt = {1, 2, 3};
  CHECK_THROWS_AS(pbkdf2_hmac_sha256("password", salt, 0, out), std::invalid_argument);
  CHECK_THROWS_AS(pbkdf2_reference("password", salt, 0, out), std::invalid_argument);
}

namespace {

class CountingPacer final : public Pacer {
 public:
  bool give_way() const override { return ++calls < give_up_at; }
  int give_up_at = 1'000'000;
  mutable int calls = 0;
};

}  // namespace

TEST_CASE("a pacer is offered a pause every kEvery iterations and changes nothing",
          "[auth][pbkdf2]") {
  const std::vector<unsigned char> salt = from_hex("0102030405060708090a0b0c0d0e0f10");
  const std::uint32_t iterations = 3 * Pacer::kEvery + 5;
  std::vector<unsigned char> paced(64);
  std::vector<unsigned char> plain(64);
  const CountingPacer pacer;
  pbkdf2_hmac_sha256("correct horse", salt, iterations, paced, &pacer);
  pbkdf2_hmac_sha256("correct horse", salt, iterations, plain);
  CHECK(paced == plain);
  // Two output blocks of 32 bytes, each with three pacing points.
  CHECK(pacer.calls == 6);
}

TEST_CASE("a pacer that answers false abandons the derivation", "[auth][pbkdf2]") {
  const std::vector<unsigned char> salt = from_hex("0102030405060708");
  std::vector<unsigned char> out(32);
  CountingPacer pacer;
  pacer.give_up_at = 2;
  CHECK_THROWS_AS(pbkdf2_hmac_sha256("pw", salt, 10 * Pacer::kEvery, out, &pacer),
                  DerivationAbandoned);
  CHECK(pacer.calls == 2);
}

TEST_CASE("two derivations at once equal two single ones", "[auth][pbkdf2]") {
  std::mt19937 rng(7914);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> password_length(0, 100);
  std::uniform_int_distribution<std::size_t> salt_length(0, 32);
  std::uniform_int_distribution<std::uint32_t> iterations(1, 3000);
  for (int round = 0; round < 60; ++round) {
    std::string passwords[2];
    std::vector<unsigned char> salts[2];
    std::uint32_t counts[2];
    // Mostly the one-block keys that run interleaved; now and then a longer one.
    const std::size_t length = round % 10 == 9 ? 40 : 32;
    std::vector<unsigned char> paired[2] = {std::vector<unsigned char>(length),
                                            std::vector<unsigned char>(32)};
    for (int i = 0; i < 2; ++i) {
      passwords[i].resize(password_length(rng));
      for (auto& c : passwords[i]) c = static_cast<char>(byte(rng));
      salts[i].resize(salt_length(rng));
      for (auto& b : salts[i]) b = static_cast<unsigned char>(byte(rng));
      // Equal costs a third of the time.
      counts[i] = i == 1 && round % 3 == 0 ? counts[0] : iterations(rng);
    }
    pbkdf2_hmac_sha256_pair({passwords[0], salts[0], counts[0], paired[0]},
                            {passwords[1], salts[1], counts[1], paired[1]}, nullptr);
    for (int i = 0; i < 2; ++i) {
      std::vector<unsigned char> reference(paired[i].size());
      pbkdf2_reference(passwords[i], salts[i], counts[i], reference);
      INFO("round " << round << ", derivation " << i << ": " << counts[i] << " iterations");
      REQUIRE(paired[i] == reference);
    }
  }
}

TEST_CASE("a pair gives way like a single derivation and can be abandoned", "[auth][pbkdf2]") {
  const std::vector<unsigned char> salt = {1, 2, 3, 4};
  const std::uint32_t iterations = 3 * Pacer::kEvery + 7;
  const CountingPacer pacer;
  std::vector<unsigned char> a(32), b(32), expected(32);
  pbkdf2_hmac_sha256_pair({"first", salt, iterations, a}, {"second", salt, iterations - 5, b},
                          &pacer);
  CHECK(pacer.calls >= 3);
  pbkdf2_reference("first", salt, iterations, expected);
  CHECK(a == expected);
  pbkdf2_reference("second", salt, iterations - 5, expected);
  CHECK(b == expected);

  CountingPacer stopping;
  stopping.give_up_at = 2;
  CHECK_THROWS_AS(pbkdf2_hmac_sha256_pair({"first", salt, iterations, a},
                                          {"second", salt, iterations, b}, &stopping),
                  DerivationAbandoned);
  CHECK_THROWS_AS(pbkdf2_hmac_sha256_pair({"first", salt, 0, a}, {"second", salt, 1, b}, nullptr),
                  std::invalid_argument);
}
