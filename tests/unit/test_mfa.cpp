#include <catch2/catch.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "mfa/base32.hpp"
#include "mfa/qr.hpp"
#include "mfa/recovery.hpp"
#include "mfa/sealed.hpp"
#include "mfa/totp.hpp"
#include "server/config.hpp"

using namespace authd::mfa;

namespace {

std::vector<unsigned char> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

// oathtool, an independent TOTP implementation, for a hex secret at a Unix time.
std::string oathtool(const std::string& hex_secret, long long unix_seconds) {
  const std::string command =
      "oathtool --totp -d 6 -N @" + std::to_string(unix_seconds) + " " + hex_secret + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char line[64] = {};
  const bool read = std::fgets(line, sizeof line, pipe) != nullptr;
  ::pclose(pipe);
  REQUIRE(read);
  std::string out(line);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string to_hex(const std::vector<unsigned char>& data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : data) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Keyring keyring(const char* base64) {
  return Keyring(*authd::server::parse_secret_key(base64));
}

}  // namespace

TEST_CASE("TOTP: RFC 6238 appendix B, the SHA-1 rows", "[mfa]") {
  const auto secret = bytes("12345678901234567890");
  const std::vector<std::pair<long long, std::string>> rows = {
      {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
      {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}};
  for (const auto& [t, code] : rows) {
    INFO(t);
    CHECK(hotp(secret, static_cast<std::uint64_t>(step_of(t)), 8) == code);
  }
  // RFC 4226 appendix D: HOTP counters 0 and 9.
  CHECK(hotp(secret, 0) == "755224");
  CHECK(hotp(secret, 9) == "520489");
}

TEST_CASE("TOTP codes agree with oathtool for random secrets and times", "[mfa]") {
  std::mt19937_64 random(20261202);
  for (int i = 0; i < 20; ++i) {
    const auto secret = new_secret();
    const long long t = static_cast<long long>(random() % 4000000000ULL);
    INFO(to_hex(secret) << " at " << t);
    CHECK(hotp(secret, static_cast<std::uint64_t>(step_of(t))) == oathtool(to_hex(secret), t));
  }
}

TEST_CASE("a code matches its step and one either side, each step once", "[mfa]") {
  const auto secret = new_secret();
  const long long now = 1'800'000'000;
  const std::int64_t step = step_of(now);
  const std::string current = hotp(secret, static_cast<std::uint64_t>(step));
  CHECK(match_step(secret, current, now, 0) == step);
  CHECK(match_step(secret, current.substr(0, 3) + " " + current.substr(3), now, 0) == step);
  CHECK(match_step(secret, hotp(secret, static_cast<std::uint64_t>(step - 1)), now, 0) == step - 1);
  CHECK(match_step(secret, hotp(secret, static_cast<std::uint64_t>(step + 1)), now, 0) == step + 1);
  CHECK_FALSE(match_step(secret, hotp(secret, static_cast<std::uint64_t>(step - 2)), now, 0));
  CHECK_FALSE(match_step(secret, hotp(secret, static_cast<std::uint64_t>(step + 2)), now, 0));
  // Replay: a step already used (or an earlier one) is refused.
  CHECK_FALSE(match_step(secret, current, now, step));
  CHECK_FALSE(match_step(secret, hotp(secret, static_cast<std::uint64_t>(step - 1)), now, step));
  for (const std::string bad : {"", "12345", "1234567", "12a456", "１２３４５６"}) {
    CHECK_FALSE(match_step(secret, bad, now, 0));
  }
}

TEST_CASE("base32 round trips and refuses what is no base32", "[mfa]") {
  CHECK(base32_encode(bytes("")) == "");
  CHECK(base32_encode(bytes("f")) == "MY");
  CHECK(base32_encode(bytes("foobar")) == "MZXW6YTBOI");
  CHECK(base32_encode(bytes("12345678901234567890")) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  CHECK(base32_decode("MZXW6YTBOI") == bytes("foobar"));
  CHECK(base32_decode("mzxw6ytboi") == bytes("foobar"));
  CHECK(base32_decode("MZXW6YQ=") == bytes("foob"));
  CHECK(base32_decode("MZXW6YTB") == bytes("fooba"));
  CHECK(base32_decode("MZXW 6YTB OI") == bytes("foobar"));
  std::mt19937 random(7);
  for (int n = 0; n < 40; ++n) {
    std::vector<unsigned char> data(static_cast<std::size_t>(n));
    for (auto& b : data) b = static_cast<unsigned char>(random());
    CHECK(base32_decode(base32_encode(data)) == data);
  }
  CHECK_FALSE(base32_decode("MZXW1"));  // '1' is not in the alphabet
  CHECK_FALSE(base32_decode("M"));      // no whole byte
  CHECK_FALSE(base32_decode("MZX"));    // neither
  CHECK_FALSE(base32_decode("MZ=X"));   // data after padding
  CHECK_FALSE(base32_decode("MZ"));     // bits left over ('Z' sets them)
}

TEST_CASE("the otpauth URI names issuer and account and carries the secret", "[mfa]") {
  const auto secret = bytes("12345678901234567890");
  CHECK(otpauth_uri("authd", "ann", secret) ==
        "otpauth://totp/authd:ann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=authd"
        "&algorithm=SHA1&digits=6&period=30");
  CHECK(otpauth_uri("Acme Corp", "a.b", secret).starts_with("otpauth://totp/Acme%20Corp:a.b?"));
  const std::string svg = qr_svg(otpauth_uri("authd", "ann", secret));
  CHECK(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK(svg.find("h1v1h-1z") != std::string::npos);
}

TEST_CASE("AES-256-GCM: round trip, and a wrong key, context or byte is refused", "[mfa]") {
  const char* key_a = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
  const char* key_b = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
  CHECK_FALSE(authd::server::parse_secret_key("c2hvcnQ="));
  CHECK_FALSE(authd::server::parse_secret_key("not base64!"));
  const Keyring a = keyring(key_a);
  const auto secret = new_secret();
  const std::string sealed = a.seal(secret, "totp:7");
  CHECK(sealed.starts_with("v1:" + a.current_id() + ":"));
  CHECK(sealed.find(to_hex(secret)) == std::string::npos);
  CHECK(a.open(sealed, "totp:7") == secret);
  CHECK(a.seal(secret, "totp:7") != sealed);  // a fresh nonce each time
  CHECK_FALSE(a.open(sealed, "totp:8"));
  CHECK_FALSE(keyring(key_b).open(sealed, "totp:7"));
  std::string flipped = sealed;
  flipped[flipped.size() - 5] = flipped[flipped.size() - 5] == '0' ? '1' : '0';
  CHECK_FALSE(a.open(flipped, "totp:7"));
  CHECK_FALSE(a.open("v1:zz:00", "totp:7"));
  CHECK_FALSE(a.open("plain text", "totp:7"));
  // Rotation: a new current key, the old one kept to open what it sealed.
  const Keyring rotated(*authd::server::parse_secret_key(key_b),
                        {*authd::server::parse_secret_key(key_a)});
  CHECK(rotated.open(sealed, "totp:7") == secret);
  CHECK(rotated.is_old(sealed));
  CHECK_FALSE(rotated.is_old(rotated.seal(secret, "totp:7")));
}

TEST_CASE("recovery codes: ten, unambiguous, hashed, each matching only itself", "[mfa]") {
  const auto codes = new_recovery_codes();
  REQUIRE(codes.size() == 10);
  for (const auto& code : codes) {
    CHECK(code.size() == 11);
    CHECK(code[5] == '-');
    CHECK(code.find_first_of("01ilo") == std::string::npos);
  }
  const std::string stored = hash_recovery_code(codes[0]);
  CHECK(stored.find(normalize_recovery_code(codes[0])) == std::string::npos);
  CHECK(recovery_code_matches(codes[0], stored));
  std::string upper = codes[0];
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  CHECK(recovery_code_matches(upper, stored));
  CHECK(recovery_code_matches(codes[0].substr(0, 5) + codes[0].substr(6), stored));
  CHECK_FALSE(recovery_code_matches(codes[1], stored));
  CHECK_FALSE(recovery_code_matches("", stored));
  CHECK(hash_recovery_code(codes[0]) != stored);  // salted
}
