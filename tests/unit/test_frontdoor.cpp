#include <catch2/catch.hpp>

#include <string>

#include "frontdoor/redirect.hpp"
#include "frontdoor/rules.hpp"
#include "frontdoor/target.hpp"

using namespace authd::frontdoor;

namespace {

const char* kExample = R"({"default_policy": "deny",
 "rules": [
   {"domain": ["public.example.com"], "policy": "bypass"},
   {"domain": ["*.example.com"], "path_prefix": ["/admin"], "policy": "admin"},
   {"domain": ["app.example.com"], "methods": ["GET", "HEAD"], "path_prefix": ["/reports"], "policy": "two_factor"},
   {"domain": ["app.example.com", "wiki.example.com"], "policy": "one_factor"}]})";

Policy decide(const Rules& rules, const std::string& method, const std::string& url) {
  const auto original = from_original_url(method, url);
  REQUIRE(original);
  return rules.decide(original->target);
}

std::string rules_error(const std::string& json) {
  try {
    parse_rules(json);
  } catch (const RulesError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("paths are decoded and dot-normalised before rules see them", "[frontdoor]") {
  CHECK(normalize_path("/admin/../x") == "/x");
  CHECK(normalize_path("/%61dmin") == "/admin");
  CHECK(normalize_path("/admin%2Fusers") == "/admin/users");
  CHECK(normalize_path("/%2e%2e/admin") == "/admin");
  CHECK(normalize_path("/public/%2E%2E/admin/") == "/admin/");
  CHECK(normalize_path("//admin//x") == "/admin/x");
  CHECK(normalize_path("/a/./b/") == "/a/b/");
  CHECK(normalize_path("/..") == "/");
  CHECK(normalize_path("/") == "/");
  CHECK(normalize_path("/admin?x=/public") == "/admin");
  CHECK(normalize_path("/admin;jsessionid=1/x") == "/admin/x");
  CHECK(normalize_path("/admin\\x") == "/admin/x");
  CHECK_FALSE(normalize_path("/%zz"));
  CHECK_FALSE(normalize_path("/a%00b"));
  CHECK_FALSE(normalize_path("/a%0Ab"));
  CHECK_FALSE(normalize_path("admin"));
  CHECK_FALSE(normalize_path(""));
}

TEST_CASE("path prefixes match whole segments, domains exactly or by *.", "[frontdoor]") {
  CHECK(path_has_prefix("/admin", "/admin"));
  CHECK(path_has_prefix("/admin/x", "/admin"));
  CHECK_FALSE(path_has_prefix("/administrator", "/admin"));
  CHECK(path_has_prefix("/admin/x", "/admin/"));
  CHECK_FALSE(path_has_prefix("/admin", "/admin/"));
  CHECK(path_has_prefix("/anything", "/"));

  CHECK(domain_matches("app.example.com", "app.example.com"));
  CHECK_FALSE(domain_matches("app.example.com.evil.io", "app.example.com"));
  CHECK(domain_matches("a.b.example.com", "*.example.com"));
  CHECK_FALSE(domain_matches("example.com", "*.example.com"));
  CHECK_FALSE(domain_matches("evilexample.com", "*.example.com"));
}

TEST_CASE("the first matching rule decides, else the default", "[frontdoor]") {
  const Rules rules = parse_rules(kExample);
  CHECK(rules.size() == 4);
  CHECK(decide(rules, "GET", "https://public.example.com/admin") == Policy::bypass);
  CHECK(decide(rules, "GET", "https://app.example.com/admin/users") == Policy::admin);
  CHECK(decide(rules, "GET", "https://APP.example.com:8443/%61dmin") == Policy::admin);
  CHECK(decide(rules, "GET", "https://app.example.com/x/../admin") == Policy::admin);
  CHECK(decide(rules, "GET", "https://app.example.com/reports%2F..%2Fadmin") == Policy::admin);
  CHECK(decide(rules, "GET", "https://app.example.com//admin") == Policy::admin);
  CHECK(decide(rules, "GET", "https://app.example.com/administrator") == Policy::one_factor);
  CHECK(decide(rules, "get", "https://app.example.com/reports/q3") == Policy::two_factor);
  CHECK(decide(rules, "POST", "https://app.example.com/reports/q3") == Policy::one_factor);
  CHECK(decide(rules, "GET", "https://wiki.example.com/") == Policy::one_factor);
  CHECK(decide(rules, "GET", "https://other.example.com/") == Policy::deny);
  CHECK(decide(rules, "GET", "https://example.org/") == Policy::deny);
  // Without a rules file: every target needs a signed-in user.
  CHECK(decide(Rules(), "GET", "https://anything.io/") == Policy::one_factor);
}

TEST_CASE("a rules file that cannot be used is refused, naming the rule", "[frontdoor]") {
  CHECK_THAT(rules_error("{"), Catch::Contains("not JSON"));
  CHECK_THAT(rules_error(R"({"rules": [{"domain": "a.io", "policy": "allow"}]})"),
             Catch::Contains("rule 1") && Catch::Contains("allow"));
  CHECK_THAT(rules_error(R"({"rules": [{"domain": "a.io", "policy": "deny"},
                                       {"domain": "a.io", "paths": ["/x"], "policy": "deny"}]})"),
             Catch::Contains("rule 2") && Catch::Contains("paths"));
  CHECK_THAT(rules_error(R"({"rules": [{"policy": "deny"}]})"), Catch::Contains("needs a domain"));
  CHECK_THAT(rules_error(R"({"rules": [{"domain": "a.io"}]})"), Catch::Contains("needs a policy"));
  CHECK_THAT(
      rules_error(R"({"rules": [{"domain": "a.io", "methods": ["FETCH"], "policy": "deny"}]})"),
      Catch::Contains("FETCH"));
  CHECK_THAT(
      rules_error(R"({"rules": [{"domain": "a.io", "path_prefix": "x", "policy": "deny"}]})"),
      Catch::Contains("path_prefix"));
  CHECK_THAT(rules_error(R"({"rules": [{"domain": "a b", "policy": "deny"}]})"),
             Catch::Contains("invalid domain"));
  CHECK_THAT(rules_error(R"({"default_policy": "maybe"})"), Catch::Contains("default_policy"));
  CHECK_THAT(rules_error(R"({"rule": []})"), Catch::Contains("rule"));
  CHECK(rules_error(R"({"rules": []})").empty());
}

TEST_CASE("the original request from nginx's and from Traefik's headers", "[frontdoor]") {
  const auto nginx = from_original_url("get", "https://App.Example.com:8443/a/../b?x=1");
  REQUIRE(nginx);
  CHECK(nginx->target.host == "app.example.com");
  CHECK(nginx->target.path == "/b");
  CHECK(nginx->target.method == "GET");
  CHECK(nginx->url == "https://App.Example.com:8443/a/../b?x=1");
  const auto traefik = from_forwarded("POST", "https", "wiki.example.com", "/p%61ge?q");
  REQUIRE(traefik);
  CHECK(traefik->target.path == "/page");
  CHECK(traefik->url == "https://wiki.example.com/p%61ge?q");
  CHECK_FALSE(from_original_url("GET", ""));
  CHECK_FALSE(from_original_url("GET", "/relative"));
  CHECK_FALSE(from_original_url("GET", "ftp://a.io/"));
  CHECK_FALSE(from_original_url("GET", "https://user@a.io/"));
  CHECK_FALSE(from_original_url("GET", "https://a.io/%zz"));
  CHECK_FALSE(from_original_url("", "https://a.io/"));
  CHECK_FALSE(from_original_url("G E T", "https://a.io/"));
  CHECK_FALSE(from_forwarded("GET", "https", "a.io/evil", "/"));
  CHECK_FALSE(from_forwarded("GET", "gopher", "a.io", "/"));
  CHECK_FALSE(from_forwarded("GET", "https", "a.io", "relative"));
}

TEST_CASE("rd: only https on the cookie domain, and never an open redirect", "[frontdoor]") {
  const RedirectPolicy policy{"https://auth.example.com", "example.com"};
  CHECK(safe_redirect("https://app.example.com/x?y=1", policy));
  CHECK(safe_redirect("https://example.com/", policy));
  CHECK(safe_redirect("https://APP.example.com:8443/", policy));
  CHECK_FALSE(safe_redirect("http://app.example.com/", policy));
  CHECK_FALSE(safe_redirect("https://example.com.evil.io/", policy));
  CHECK_FALSE(safe_redirect("https://evilexample.com/", policy));
  CHECK_FALSE(safe_redirect("https://evil.io/?https://app.example.com", policy));
  CHECK_FALSE(safe_redirect("https://app.example.com@evil.io/", policy));
  CHECK_FALSE(safe_redirect("//app.example.com/", policy));
  CHECK_FALSE(safe_redirect("/local", policy));
  CHECK_FALSE(safe_redirect("javascript:alert(1)", policy));
  CHECK_FALSE(safe_redirect("https://app.example.com\\@evil.io/", policy));
  CHECK_FALSE(safe_redirect("https://app.example.com/\r\nSet-Cookie:x", policy));
  CHECK_FALSE(safe_redirect("https://127.0.0.1/", policy));
  // An http portal allows http targets; without a cookie domain only the portal's host.
  const RedirectPolicy plain{"http://auth.localhost:8080", std::nullopt};
  CHECK(safe_redirect("http://auth.localhost:9000/back", plain));
  CHECK_FALSE(safe_redirect("http://app.localhost/", plain));
  // A loopback portal host may be an address: any port on that same address.
  const RedirectPolicy by_address{"http://127.0.0.1:8080", std::nullopt};
  CHECK(safe_redirect("http://127.0.0.1:9000/back", by_address));
  CHECK(safe_redirect("http://127.0.0.1/", by_address));
  CHECK_FALSE(safe_redirect("http://127.0.0.2:9000/", by_address));
  CHECK_FALSE(safe_redirect("http://127.0.0.1:99999/", by_address));
  CHECK_FALSE(safe_redirect("http://localhost:9000/", by_address));
  const RedirectPolicy by_v6{"http://[::1]:8080", std::nullopt};
  CHECK(safe_redirect("http://[::1]:9000/", by_v6));
  // A portal that is not on a loopback host: only its own port.
  const RedirectPolicy public_portal{"https://auth.example.com", std::nullopt};
  CHECK(safe_redirect("https://auth.example.com/back", public_portal));
  CHECK(safe_redirect("https://auth.example.com:443/back", public_portal));
  CHECK_FALSE(safe_redirect("https://auth.example.com:8443/", public_portal));
  const RedirectPolicy public_address{"https://192.0.2.7", std::nullopt};
  CHECK(safe_redirect("https://192.0.2.7/x", public_address));
  CHECK_FALSE(safe_redirect("https://192.0.2.7:8443/x", public_address));

  CHECK(login_location("https://auth.example.com", "https://app.example.com/a b?c=d&e", false) ==
        "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Fa%20b%3Fc%3Dd%26e");
  CHECK(login_location("https://auth.example.com", "https://a.example.com/", true) ==
        "https://auth.example.com/login?rd=https%3A%2F%2Fa.example.com%2F&aal=aal2");
}
