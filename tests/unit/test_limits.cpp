#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "auth/limits.hpp"
#include "auth/validation.hpp"

using namespace authd;

TEST_CASE("a client address key is the IPv4 address or the IPv6 /64", "[unit][limits]") {
  CHECK(auth::address_key("192.0.2.1") == "ip:192.0.2.1");
  CHECK(auth::address_key("::ffff:192.0.2.1") == "ip:192.0.2.1");
  CHECK(auth::address_key("2001:db8:1:2::a") == "ip:2001:db8:1:2::/64");
  CHECK(auth::address_key("2001:db8:1:2::a") == auth::address_key("2001:db8:1:2:ffff::b"));
  CHECK(auth::address_key("2001:DB8:1:2::c") == auth::address_key("2001:db8:1:2::a"));
  CHECK(auth::address_key("2001:db8:1:3::a") != auth::address_key("2001:db8:1:2::a"));
  CHECK(auth::address_key("fe80::1%1") == auth::address_key("fe80::2"));
  CHECK(auth::address_key("::1") == "ip:::/64");
  CHECK(auth::address_key("not an address") == "raw:not an address");
  CHECK(auth::address_key(std::string("1.2.3.4\0x", 9)) == "raw:?");
  CHECK(auth::address_key(std::string(100, 'x')) == "raw:?");
}

TEST_CASE("an account key is the user when known, else the identifier lower-cased",
          "[unit][limits]") {
  CHECK(auth::account_key(42, "Ann@Example.com") == "user:42");
  CHECK(auth::account_key(std::nullopt, "Ann@Example.com") == "name:ann@example.com");
  CHECK(auth::account_key(std::nullopt, "ANN") == auth::account_key(std::nullopt, "ann"));
}

TEST_CASE("text arrays quote every element and refuse NUL", "[unit][limits]") {
  CHECK(auth::text_array({}) == "{}");
  CHECK(auth::text_array({"a", "b c"}) == R"({"a","b c"})");
  CHECK(auth::text_array({R"(x"y\z)", "{,}"}) == R"({"x\"y\\z","{,}"})");
  CHECK_THROWS_AS(auth::text_array({std::string("a\0b", 3)}), std::invalid_argument);
}

TEST_CASE("a tally is over when any key is, and waits for the longest", "[unit][limits]") {
  auth::Tally tally;
  CHECK_FALSE(tally.over());
  tally.counts.push_back({"a", 3, 0, 100, false});
  tally.counts.push_back({"b", 11, 0, 50, true});
  tally.counts.push_back({"c", 200, 0, 700, true});
  CHECK(tally.over());
  CHECK(tally.retry_after() == 700);
}

TEST_CASE("a login identifier is at most 254 bytes of printable UTF-8", "[unit][validation]") {
  CHECK_FALSE(auth::check_login("ann@example.com"));
  CHECK_FALSE(auth::check_login(""));
  CHECK_FALSE(auth::check_login("j\xc3\xbcrgen"));
  CHECK_FALSE(auth::check_login(std::string(254, 'a')));
  CHECK(auth::check_login(std::string(255, 'a'))->code == "invalid_login");
  CHECK(auth::check_login(std::string("ann@example.com\0x", 17))->code == "invalid_login");
  CHECK(auth::check_login("\xff@x.io")->code == "invalid_login");
  CHECK(auth::check_login("\xc0\xaf")->code == "invalid_login");  // an overlong '/'
  CHECK(auth::check_login("a\tb")->code == "invalid_login");
  CHECK(auth::check_login("a\x7f")->code == "invalid_login");
  CHECK(auth::check_login("a\xc2\x9f")->code == "invalid_login");
  CHECK(auth::is_printable_utf8("spaces are fine"));
  CHECK_FALSE(auth::is_printable_utf8(std::string("nul\0", 4)));
}
