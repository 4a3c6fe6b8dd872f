#include <catch2/catch.hpp>

#include "server/router.hpp"

using namespace authd::server;

namespace {

Router sample() {
  Router router;
  router.add("GET", "/healthz", 0, "healthz");
  router.add("POST", "/api/v1/login", 1, "login");
  router.add("GET", "/api/v1/admin/backups", 2, "backup_list");
  router.add("POST", "/api/v1/admin/backups", 3, "backup_create");
  router.add("GET", "/api/v1/admin/backups/latest", 4, "backup_latest");
  router.add("GET", "/api/v1/admin/backups/{}", 5, "backup_get");
  router.add("GET", "/login/{}/{}", 6, "legacy_login");
  return router;
}

}  // namespace

TEST_CASE("exact paths match their method", "[router]") {
  const auto result = sample().match("GET", "/healthz");
  REQUIRE(std::holds_alternative<RouteMatch>(result));
  CHECK(std::get<RouteMatch>(result).name == "healthz");
}

TEST_CASE("unknown paths are not found", "[router]") {
  const Router router = sample();
  CHECK(std::holds_alternative<NotFound>(router.match("GET", "/nope")));
  CHECK(std::holds_alternative<NotFound>(router.match("GET", "/healthz/")));
  CHECK(std::holds_alternative<NotFound>(router.match("GET", "")));
  CHECK(std::holds_alternative<NotFound>(router.match("GET", "/login/a")));
  CHECK(std::holds_alternative<NotFound>(router.match("GET", "/login/a/b/c")));
  // An empty segment does not fill a parameter.
  CHECK(std::holds_alternative<NotFound>(router.match("GET", "/login//b")));
}

TEST_CASE("a known path with the wrong method lists what is allowed", "[router]") {
  const Router router = sample();
  const auto result = router.match("DELETE", "/api/v1/admin/backups");
  REQUIRE(std::holds_alternative<MethodNotAllowed>(result));
  CHECK(std::get<MethodNotAllowed>(result).allow == "GET, POST");
  const auto login = router.match("GET", "/api/v1/login");
  REQUIRE(std::holds_alternative<MethodNotAllowed>(login));
  CHECK(std::get<MethodNotAllowed>(login).allow == "POST");
}

TEST_CASE("a literal segment wins over a parameter registered after it", "[router]") {
  const auto result = sample().match("GET", "/api/v1/admin/backups/latest");
  REQUIRE(std::holds_alternative<RouteMatch>(result));
  CHECK(std::get<RouteMatch>(result).id == 4);
  const auto by_id = sample().match("GET", "/api/v1/admin/backups/17");
  REQUIRE(std::holds_alternative<RouteMatch>(by_id));
  CHECK(std::get<RouteMatch>(by_id).params == std::vector<std::string>{"17"});
}

TEST_CASE("parameters are percent-decoded after splitting", "[router]") {
  const auto result = sample().match("GET", "/login/jack%40g.com/pa%2Fss%20word+x");
  REQUIRE(std::holds_alternative<RouteMatch>(result));
  const auto& params = std::get<RouteMatch>(result).params;
  REQUIRE(params.size() == 2);
  CHECK(params[0] == "jack@g.com");
  CHECK(params[1] == "pa/ss word+x");
}

TEST_CASE("a broken escape is a bad path, not a crash", "[router]") {
  const Router router = sample();
  CHECK(std::holds_alternative<BadPath>(router.match("GET", "/login/a%2/b")));
  CHECK(std::holds_alternative<BadPath>(router.match("GET", "/login/a/b%")));
  CHECK(std::holds_alternative<BadPath>(router.match("GET", "/login/a/%zz")));
}

TEST_CASE("percent_decode handles every byte", "[router]") {
  CHECK(percent_decode("%00%ff%C3%A9") == std::string("\0\xff\xc3\xa9", 4));
  CHECK(percent_decode("plain") == "plain");
  CHECK_FALSE(percent_decode("%"));
  CHECK_FALSE(percent_decode("%g0"));
}
