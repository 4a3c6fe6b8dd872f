#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "auth/validation.hpp"

using namespace authd::auth;

namespace {

std::string repeat(std::string_view unit, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += unit;
  return out;
}

// An address of exactly size characters: a long local part at "example.com".
std::string email_of_length(std::size_t size) {
  const std::string domain = "@example.com";
  return std::string(size - domain.size(), 'a') + domain;
}

bool username_ok(std::string_view s) {
  return !check_username(s).has_value();
}
bool email_ok(std::string_view s) {
  return !check_email(s).has_value();
}
bool password_ok(std::string_view s) {
  return !check_password(s).has_value();
}

}  // namespace

TEST_CASE("usernames of 3 to 32 characters are accepted", "[auth][validation]") {
  CHECK_FALSE(username_ok(""));
  CHECK_FALSE(username_ok("ab"));
  CHECK(username_ok("abc"));
  CHECK(username_ok(std::string(32, 'x')));
  CHECK_FALSE(username_ok(std::string(33, 'x')));
  const auto problem = check_username("ab");
  REQUIRE(problem.has_value());
  CHECK(problem->code == "invalid_username");
}

TEST_CASE("usernames use letters, digits, '_', '.' and '-' only", "[auth][validation]") {
  CHECK(username_ok("Alice_B.c-9"));
  CHECK(username_ok("..."));
  CHECK(username_ok("ABCXYZabcxyz0189"));
  for (const std::string& bad : std::vector<std::string>{
           "ali ce", "alice@x", "alice!", "ali/ce", "ali+ce", "ali$ce", "ali,ce", "ali\"ce",
           "al\xc3\xa9", "ali\tce", std::string("ali\0ce", 6), "ali`ce", "ali[ce", "ali{ce"}) {
    INFO(bad);
    const auto problem = check_username(bad);
    REQUIRE(problem.has_value());
    CHECK(problem->code == "invalid_username");
  }
}

TEST_CASE("emails of at most 254 characters are accepted", "[auth][validation]") {
  REQUIRE(email_of_length(254).size() == 254);
  CHECK(email_ok(email_of_length(254)));
  CHECK_FALSE(email_ok(email_of_length(255)));
  CHECK(email_ok("a@b.c"));
  const auto problem = check_email(email_of_length(255));
  REQUIRE(problem.has_value());
  CHECK(problem->code == "invalid_email");
}

TEST_CASE("emails need exactly one '@' and a name before it", "[auth][validation]") {
  CHECK(email_ok("first.last+tag@sub.example.co.uk"));
  CHECK(email_ok("User@Example.COM"));
  CHECK_FALSE(email_ok(""));
  CHECK_FALSE(email_ok("user.example.com"));
  CHECK_FALSE(email_ok("a@b@example.com"));
  CHECK_FALSE(email_ok("@example.com"));
  CHECK_FALSE(email_ok("@"));
}

TEST_CASE("email domains need a dot and no empty labels", "[auth][validation]") {
  CHECK_FALSE(email_ok("user@localhost"));
  CHECK_FALSE(email_ok("user@"));
  CHECK_FALSE(email_ok("user@."));
  CHECK_FALSE(email_ok("user@.example.com"));
  CHECK_FALSE(email_ok("user@example..com"));
  CHECK_FALSE(email_ok("user@example.com."));
  CHECK(email_ok("user@a.b.c.d"));
}

TEST_CASE("emails refuse spaces, controls and non-ASCII", "[auth][validation]") {
  for (const std::string& bad : std::vector<std::string>{
           "us er@example.com", "user@exa mple.com", " user@example.com", "user@example.com ",
           "user\t@example.com", "user@example.com\n", std::string("us\0er@example.com", 17),
           "user\x7f@example.com", "j\xc3\xb8rn@example.com"}) {
    INFO(bad);
    const auto problem = check_email(bad);
    REQUIRE(problem.has_value());
    CHECK(problem->code == "invalid_email");
  }
}

TEST_CASE("passwords of 8 to 1024 ASCII characters are accepted", "[auth][validation]") {
  CHECK_FALSE(password_ok(""));
  CHECK_FALSE(password_ok(std::string(7, 'p')));
  CHECK(password_ok(std::string(8, 'p')));
  CHECK(password_ok(std::string(1024, 'p')));
  CHECK_FALSE(password_ok(std::string(1025, 'p')));
  const auto problem = check_password(std::string(7, 'p'));
  REQUIRE(problem.has_value());
  CHECK(problem->code == "invalid_password");
}

TEST_CASE("password length counts code points, not bytes", "[auth][validation]") {
  const std::string e_acute = "\xc3\xa9";
  const std::string emoji = "\xf0\x9f\x98\x80";
  CHECK_FALSE(password_ok(repeat(e_acute, 7)));  // 14 bytes, 7 characters
  CHECK(password_ok(repeat(e_acute, 8)));
  CHECK(repeat(e_acute, 1024).size() == 2048);
  CHECK(password_ok(repeat(e_acute, 1024)));
  CHECK_FALSE(password_ok(repeat(e_acute, 1025)));
  CHECK_FALSE(password_ok(repeat(emoji, 7)));  // 28 bytes
  CHECK(password_ok(repeat(emoji, 8)));
  CHECK(password_ok(repeat(emoji, 1024)));
  CHECK_FALSE(password_ok(repeat(emoji, 1025)));
  CHECK(password_ok(repeat("\xe2\x82\xac", 1024)));  // three-byte euro signs
  CHECK(password_ok("abc" + e_acute + emoji + "xyz"));
}

TEST_CASE("passwords must be valid UTF-8", "[auth][validation]") {
  for (const std::string& bad :
       std::vector<std::string>{"\x80",                  // lone continuation byte
                                "\xc3",                  // truncated two-byte sequence
                                "\xc3(",                 // lead byte without continuation
                                "\xe2\x82",              // truncated three-byte sequence
                                "\xc0\xaf",              // overlong '/'
                                "\xc1\xbf",              // overlong
                                "\xe0\x80\xaf",          // overlong three-byte
                                "\xf0\x80\x80\xaf",      // overlong four-byte
                                "\xed\xa0\x80",          // surrogate U+D800
                                "\xed\xbf\xbf",          // surrogate U+DFFF
                                "\xf4\x90\x80\x80",      // past U+10FFFF
                                "\xf5\x80\x80\x80",      // invalid lead byte
                                "\xf8\x88\x80\x80\x80",  // five-byte form
                                "\xfe", "\xff"}) {
    INFO(bad.size() << " bad bytes");
    const auto problem = check_password("password" + bad + "password");
    REQUIRE(problem.has_value());
    CHECK(problem->code == "invalid_password");
    CHECK_FALSE(utf8_length(bad).has_value());
  }
}

TEST_CASE("passwords refuse control characters", "[auth][validation]") {
  // C0 controls, DEL, and C1 controls U+0080, U+0085 (next line) and U+009F.
  const std::vector<std::string> controls = {
      std::string(1, '\0'), "\x01",     "\t",      "\n", "\r", "\x1b", "\x1f", "\x7f",
      "\xc2\x80",           "\xc2\x85", "\xc2\x9f"};
  for (const std::string& control : controls) {
    INFO(control.size() << " bytes, first " << int(static_cast<unsigned char>(control[0])));
    const auto problem = check_password("password" + control + "password");
    REQUIRE(problem.has_value());
    CHECK(problem->code == "invalid_password");
  }
}

TEST_CASE("passwords allow spaces and printable neighbours of controls", "[auth][validation]") {
  CHECK(password_ok("correct horse battery staple"));
  CHECK(password_ok("        "));
  CHECK(password_ok(" leading and trailing "));
  CHECK(password_ok("tilde~~~"));
  CHECK(password_ok("nbsp\xc2\xa0\xc2\xa0\xc2\xa0\xc2\xa0"));  // U+00A0 right after the C1 range
  CHECK(password_ok("max \xf4\x8f\xbf\xbf code"));             // U+10FFFF
  CHECK(password_ok("\xed\x9f\xbf\xee\x80\x80 around surrogates"));  // U+D7FF, U+E000
}

TEST_CASE("problem details never repeat the password", "[auth][validation]") {
  const std::string secret = "s3cr\x01t-value";
  const auto problem = check_password(secret);
  REQUIRE(problem.has_value());
  CHECK(problem->detail.find("s3cr") == std::string::npos);
  CHECK_FALSE(problem->detail.empty());
}

TEST_CASE("utf8_length counts code points", "[auth][validation]") {
  CHECK(utf8_length("") == 0u);
  CHECK(utf8_length("abc") == 3u);
  CHECK(utf8_length("\xc3\xa9") == 1u);
  CHECK(utf8_length("\xe2\x82\xac") == 1u);
  CHECK(utf8_length("\xf0\x9f\x98\x80") == 1u);
  CHECK(utf8_length("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z") == 5u);
  CHECK(utf8_length(std::string(3, '\0')) == 3u);
  CHECK_FALSE(utf8_length("abc\xc3").has_value());
}

TEST_CASE("ascii_lower lowers A-Z only", "[auth][validation]") {
  const std::string e_acute_upper = "\xc3\x89";
  CHECK(ascii_lower("") == "");
  CHECK(ascii_lower("MiXeD@Example.COM") == "mixed@example.com");
  CHECK(ascii_lower("AZaz09_.-") == "azaz09_.-");
  CHECK(ascii_lower("@[`{") == "@[`{");  // the neighbours of A-Z and a-z
  CHECK(ascii_lower(e_acute_upper + "COLE") == e_acute_upper + "cole");
  CHECK(ascii_lower(std::string("A\0B", 3)) == std::string("a\0b", 3));
}

namespace {

// "local@" and then dotted labels of up to 63 characters, exactly size characters in all.
std::string email_with_long_domain(std::size_t size) {
  std::string email = "local@";
  char letter = 'a';
  while (email.size() < size) {
    if (email.back() != '@') email += '.';
    const std::size_t label = std::min<std::size_t>(63, size - email.size());
    email += std::string(label, letter++);
  }
  return email;
}

std::string email_code(std::string_view email) {
  const auto problem = check_email(email);
  return problem ? problem->code : "";
}

}  // namespace

TEST_CASE("a long dotted domain counts towards the 254 characters", "[auth][validation]") {
  const std::string ok = email_with_long_domain(254);
  const std::string too_long = email_with_long_domain(255);
  REQUIRE(ok.size() == 254);
  REQUIRE(too_long.size() == 255);
  REQUIRE(std::count(ok.begin(), ok.end(), '.') >= 3);
  REQUIRE(ok.back() != '.');
  REQUIRE(too_long.back() != '.');
  CHECK(email_code(ok) == "");
  CHECK(email_code(too_long) == "invalid_email");
}

TEST_CASE("each malformed email is refused as invalid_email", "[auth][validation]") {
  CHECK(email_code("a@b.com") == "");
  for (const std::string bad : {"", "ab.com", "a@b@c.com", "a@@b.com", "@b.com", "a@bcom", "a@",
                                "a@.com", "a@b..com", "a@b.com.", "a b@c.com", "a@c\xc3\xa9.com"}) {
    INFO(bad);
    CHECK(email_code(bad) == "invalid_email");
  }
}

TEST_CASE("usernames refuse a space, '@' and 'é' as invalid_username", "[auth][validation]") {
  for (const std::string bad : {"ali ce", "ali@ce", "ali\xc3\xa9", "\xc3\xa9\xc3\xa9"}) {
    INFO(bad);
    const auto problem = check_username(bad);
    REQUIRE(problem.has_value());
    CHECK(problem->code == "invalid_username");
  }
  const auto too_long = check_username(std::string(33, 'a'));
  REQUIRE(too_long.has_value());
  CHECK(too_long->code == "invalid_username");
}

TEST_CASE("eight padlock emoji make a valid password", "[auth][validation]") {
  const std::string padlock = "\xf0\x9f\x94\x92";  // U+1F512
  CHECK(utf8_length(repeat(padlock, 8)) == 8u);
  CHECK(password_ok(repeat(padlock, 8)));
  const auto short_one = check_password(repeat(padlock, 7));
  REQUIRE(short_one.has_value());
  CHECK(short_one->code == "invalid_password");
  const auto long_one = check_password(repeat("\xc3\xa9", 1025));
  REQUIRE(long_one.has_value());
  CHECK(long_one->code == "invalid_password");
  const auto ascii_long = check_password(std::string(1025, 'p'));
  REQUIRE(ascii_long.has_value());
  CHECK(ascii_long->code == "invalid_password");
}
