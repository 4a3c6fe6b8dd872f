#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "auth/base64.hpp"
#include "auth/session_token.hpp"

using namespace authd::auth;

namespace {

bool is_base64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool is_lower_hex(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A token that passes every check: 32 zero bytes.
const std::string kZeroToken(kSessionTokenLength, 'A');

}  // namespace

TEST_CASE("new session tokens are 43 base64url characters", "[auth][session]") {
  for (int round = 0; round < 100; ++round) {
    const std::string token = new_session_token();
    INFO(token);
    REQUIRE(token.size() == kSessionTokenLength);
    CHECK(token.size() == 43);
    CHECK(std::all_of(token.begin(), token.end(), is_base64url_char));
    const auto raw = base64url_decode(token);
    REQUIRE(raw.has_value());
    CHECK(raw->size() == kSessionTokenBytes);
  }
}

TEST_CASE("new session tokens differ between calls", "[auth][session]") {
  std::set<std::string> seen;
  for (int round = 0; round < 1000; ++round) seen.insert(new_session_token());
  CHECK(seen.size() == 1000);
}

TEST_CASE("a new session token has a hash", "[auth][session]") {
  const std::string first = new_session_token();
  const std::string second = new_session_token();
  const auto first_hash = token_hash_hex(first);
  const auto second_hash = token_hash_hex(second);
  REQUIRE(first_hash.has_value());
  REQUIRE(second_hash.has_value());
  CHECK(first_hash->size() == 64);
  CHECK(is_lower_hex(*first_hash));
  CHECK(*first_hash != *second_hash);
  CHECK(token_hash_hex(first) == first_hash);
}

TEST_CASE("token_hash_hex is the SHA-256 of the raw bytes in lower-case hex", "[auth][session]") {
  // sha256 of 32 zero bytes; the hash of the 43-character text would be 0f007385...
  CHECK(token_hash_hex(kZeroToken) ==
        "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");

  std::vector<unsigned char> ascending(32);
  for (std::size_t i = 0; i < ascending.size(); ++i) ascending[i] = static_cast<unsigned char>(i);
  REQUIRE(base64url_encode(ascending) == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
  CHECK(token_hash_hex("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8") ==
        "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");

  // Bytes 0xff down to 0xe0: the spelling uses both '-' and '_'.
  CHECK(token_hash_hex("__79_Pv6-fj39vX08_Lx8O_u7ezr6uno5-bl5OPi4eA") ==
        "1865c00831e73f7ee23fc13cb2d0f588b9c341835ca7472f8ec035aba4b789d6");
}

TEST_CASE("token_hash_hex refuses tokens of the wrong length", "[auth][session]") {
  CHECK_FALSE(token_hash_hex("").has_value());
  CHECK_FALSE(token_hash_hex("AAAA").has_value());
  CHECK_FALSE(token_hash_hex(std::string(42, 'A')).has_value());
  CHECK_FALSE(token_hash_hex(std::string(44, 'A')).has_value());
  CHECK_FALSE(token_hash_hex(std::string(86, 'A')).has_value());
  CHECK_FALSE(token_hash_hex(kZeroToken + kZeroToken).has_value());
  // A valid encoding of 31 or 33 bytes is still not a session token.
  CHECK_FALSE(token_hash_hex(base64url_encode(std::vector<unsigned char>(31))).has_value());
  CHECK_FALSE(token_hash_hex(base64url_encode(std::vector<unsigned char>(33))).has_value());
  const std::string token = new_session_token();
  CHECK_FALSE(token_hash_hex(token.substr(1)).has_value());
  CHECK_FALSE(token_hash_hex(token + "A").has_value());
}

TEST_CASE("token_hash_hex refuses characters outside base64url", "[auth][session]") {
  REQUIRE(token_hash_hex(kZeroToken).has_value());
  for (const std::string bad : {"+", "/", " ", ".", "~", "\n", "*", "%"}) {
    for (const std::size_t at : {std::size_t{0}, std::size_t{20}, kSessionTokenLength - 1}) {
      std::string token = kZeroToken;
      token.replace(at, 1, bad);
      INFO("'" << bad << "' at " << at);
      CHECK_FALSE(token_hash_hex(token).has_value());
    }
  }
  std::string with_nul = kZeroToken;
  with_nul[10] = '\0';
  CHECK_FALSE(token_hash_hex(with_nul).has_value());
  // Two bytes of UTF-8 in place of two characters keep the byte length at 43.
  CHECK_FALSE(token_hash_hex(kZeroToken.substr(0, 41) + "\xc3\xa9").has_value());
}

TEST_CASE("token_hash_hex refuses padded tokens", "[auth][session]") {
  CHECK_FALSE(token_hash_hex(kZeroToken + "=").has_value());
  CHECK_FALSE(token_hash_hex(kZeroToken.substr(0, 42) + "=").has_value());
  const std::string token = new_session_token();
  CHECK_FALSE(token_hash_hex(token + "=").has_value());
}

TEST_CASE("token_hash_hex refuses a last character with unused bits set", "[auth][session]") {
  // 43 characters carry 258 bits: the last character's two low bits must be zero, so each
  // token has one spelling and therefore one hash.
  CHECK(token_hash_hex(kZeroToken.substr(0, 42) + "E").has_value());
  for (const char last : {'B', 'C', 'D', 'F', '_', '-'}) {
    INFO(last);
    CHECK_FALSE(token_hash_hex(kZeroToken.substr(0, 42) + last).has_value());
  }
}
