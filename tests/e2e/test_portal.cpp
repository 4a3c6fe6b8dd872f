#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <string>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"

// The portal's files as HTTP serves them; what they do in a browser is tests/browser/.
using namespace authd::test;

namespace {

void check_secure(const HttpResponse& answer) {
  // One Cache-Control: a second (the API's no-store) would win over the page's own.
  CHECK(std::count_if(answer.headers.begin(), answer.headers.end(),
                      [](const auto& header) { return header.first == "cache-control"; }) == 1);
  CHECK(answer.header("content-security-policy") == "default-src 'self'; frame-ancestors 'none'");
  CHECK(answer.header("x-content-type-options") == "nosniff");
  CHECK(answer.header("referrer-policy") == "no-referrer");
  CHECK(answer.header("x-frame-options") == "DENY");
}

}  // namespace

TEST_CASE("portal pages: no inline code, hashed assets kept for good, ETags and 304",
          "[e2e][portal]") {
  AuthdServer server(fresh_database_url());
  const auto port = server.port();

  for (const std::string page : {"/signup", "/account", "/recovery", "/reset", "/verify"}) {
    INFO(page);
    const auto answer = http(port, "GET", page + "?token=abc");
    REQUIRE(answer.status == 200);
    CHECK(answer.header("content-type") == "text/html; charset=utf-8");
    CHECK(answer.header("cache-control") == "no-cache");
    check_secure(answer);
    // Nothing the CSP would refuse: no inline script or style, no handler attributes.
    CHECK_FALSE(std::regex_search(answer.body, std::regex("<script>|<style|style=| on[a-z]+=")));
    const auto etag = answer.header("etag").value_or("");
    REQUIRE(etag.size() > 2);
    const auto again = http(port, "GET", page, "", {{"If-None-Match", etag}});
    CHECK(again.status == 304);
    CHECK(again.body.empty());
    CHECK(again.header("etag") == etag);
    CHECK(http(port, "GET", page, "", {{"If-None-Match", "\"other\""}}).status == 200);
  }

  const auto login = http(port, "GET", "/login");
  REQUIRE(login.status == 200);
  CHECK(login.header("cache-control") == "no-store");
  check_secure(login);

  // The page names its script, stylesheet and icon by their content's hash.
  std::smatch found;
  for (const std::string kind : {"js", "css", "svg"}) {
    INFO(kind);
    REQUIRE(std::regex_search(login.body, found,
                              std::regex("/portal/[a-z]+\\.[0-9a-f]{16}\\." + kind)));
    const std::string path = found.str();
    const auto asset = http(port, "GET", path);
    REQUIRE(asset.status == 200);
    CHECK(asset.header("cache-control") == "public, max-age=31536000, immutable");
    check_secure(asset);
    CHECK_FALSE(asset.body.empty());
    const auto etag = asset.header("etag").value_or("");
    CHECK(http(port, "GET", path, "", {{"If-None-Match", etag}}).status == 304);
    CHECK(http(port, "HEAD", path).status == 200);
  }
  CHECK_THAT(
      http(port, "GET", "/portal/app.0000000000000000.js").header("content-type").value_or(""),
      Catch::StartsWith("application/problem+json"));
  CHECK(http(port, "GET", "/portal/app.0000000000000000.js").status == 404);
  // Pages are not assets: only hashed names live under /portal/.
  CHECK(http(port, "GET", "/portal/login").status == 404);
  CHECK(http(port, "GET", "/portal/app.js").status == 404);
  // The legacy login keeps its path.
  CHECK(http(port, "POST", "/signup").status == 405);
}
