#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "auth/base64.hpp"

using namespace authd::auth;

namespace {

std::vector<unsigned char> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

std::string encode(std::string_view text) {
  return base64_encode(bytes(text));
}

}  // namespace

TEST_CASE("RFC 4648 vectors encode without padding", "[auth][base64]") {
  CHECK(encode("") == "");
  CHECK(encode("f") == "Zg");
  CHECK(encode("fo") == "Zm8");
  CHECK(encode("foo") == "Zm9v");
  CHECK(encode("foob") == "Zm9vYg");
  CHECK(encode("fooba") == "Zm9vYmE");
  CHECK(encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("RFC 4648 vectors decode unpadded and padded", "[auth][base64]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, padded] : vectors) {
    INFO(padded);
    CHECK(base64_decode(padded) == bytes(plain));
    const std::string unpadded = padded.substr(0, padded.find('='));
    CHECK(base64_decode(unpadded) == bytes(plain));
    CHECK(base64url_decode(unpadded) == bytes(plain));
  }
}

TEST_CASE("the two alphabets differ only in the last two characters", "[auth][base64]") {
  const std::vector<unsigned char> high = {0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff};
  CHECK(base64_encode(high) == "++++////");
  CHECK(base64url_encode(high) == "----____");
  CHECK(base64_decode("++++////") == high);
  CHECK(base64url_decode("----____") == high);
  CHECK(base64_encode(std::vector<unsigned char>{0xfb, 0xff}) == "+/8");
  CHECK(base64url_encode(std::vector<unsigned char>{0xfb, 0xff}) == "-_8");
}

TEST_CASE("characters outside the alphabet are rejected", "[auth][base64]") {
  for (const std::string& bad :
       std::vector<std::string>{"Zm9v!", "Zm 9v", "Zm9v\n", "Zm9v\r\n", "Zm\t9v", "Zm9v\xc3\xa9",
                                std::string("Zm\0v", 4), "----", "____"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
  for (const std::string& bad :
       std::vector<std::string>{"++++", "////", "Zm9v!", "Zm9v.", "Zm9v~"}) {
    INFO(bad);
    CHECK_FALSE(base64url_decode(bad).has_value());
  }
}

TEST_CASE("misplaced or excess padding is rejected", "[auth][base64]") {
  for (const std::string bad :
       {"=", "==", "===", "====", "Zg=", "Zg===", "Zg=a",
        "=Zg=", "Z===", "Zm9v=", "Zm9v==", "Zm9v====", "Zm8==", "Zg==Zg==", "Zm=v", "Zg==\n"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
}

TEST_CASE("the url-safe decoder refuses padding", "[auth][base64]") {
  CHECK_FALSE(base64url_decode("Zg==").has_value());
  CHECK_FALSE(base64url_decode("Zm8=").has_value());
  CHECK(base64url_decode("Zm8") == bytes("fo"));
}

TEST_CASE("lengths no encoding can have are rejected", "[auth][base64]") {
  for (const std::string& bad : std::vector<std::string>{"Z", "Zm9vY", "Zm9vYmFyZ", "Zm9vY==="}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
    CHECK_FALSE(base64url_decode(bad).has_value());
  }
}

TEST_CASE("non-zero unused trailing bits are rejected", "[auth][base64]") {
  CHECK(base64_decode("Zg") == bytes("f"));
  for (const std::string& bad :
       std::vector<std::string>{"Zh", "Zv", "Zh==", "Zm9", "Zm9=", "Zm9vYh", "Zm9vYmF"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
  CHECK_FALSE(base64url_decode("Zh").has_value());
  CHECK_FALSE(base64url_decode("-_9").has_value());
}

TEST_CASE("random bytes round trip through both alphabets", "[auth][base64]") {
  std::mt19937 rng(4648);
  std::uniform_int_distribution<int> byte(0, 255);
  for (std::size_t length = 0; length <= 100; ++length) {
    for (int round = 0; round < 5; ++round) {
      std::vector<unsigned char> data(length);
      for (auto& b : data) b = static_cast<unsigned char>(byte(rng));
      INFO("length " << length);
      const std::string standard = base64_encode(data);
      const std::string url = base64url_encode(data);
      CHECK(standard.size() == (length * 4 + 2) / 3);
      CHECK(standard.find('=') == std::string::npos);
      CHECK(url.find_first_of("+/=") == std::string::npos);
      CHECK(base64_decode(standard) == data);
      CHECK(base64url_decode(url) == data);
    }
  }
}

TEST_CASE("every accepted unpadded string is the encoding of its bytes", "[auth][base64]") {
  // Short strings over a few alphabet characters: decoding must be one-to-one.
  std::mt19937 rng(7);
  const std::string chars = "AQgw/+9z";
  std::uniform_int_distribution<std::size_t> pick(0, chars.size() - 1);
  std::uniform_int_distribution<int> length(0, 9);
  int accepted = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    for (int n = length(rng); n > 0; --n) text += chars[pick(rng)];
    if (const auto decoded = base64_decode(text)) {
      ++accepted;
      INFO(text);
      CHECK(base64_encode(*decoded) == text);
    }
  }
  CHECK(accepted > 1000);
}
