#pragma once

#include <optional>
#include <string>
#include <string_view>

// Where the front door sends people to sign in, and which places it lets them be sent back to.
namespace authd::frontdoor {

// Where an rd target may point: https URLs (http too when the portal itself is http) on the
// cookie domain or its subdomains; without a cookie domain, on the portal's own host only.
struct RedirectPolicy {
  std::string portal_url;                    // "https://auth.example.com"
  std::optional<std::string> cookie_domain;  // "example.com"
};

// Whether url is a place a sign-in may return to (no open redirect).
bool safe_redirect(std::string_view url, const RedirectPolicy& policy);

// <portal>/login?rd=<url, %-encoded>[&aal=aal2].
std::string login_location(std::string_view portal_url, std::string_view original_url,
                           bool second_factor);

// Every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~) as %XX: safe in a query value.
std::string percent_encode(std::string_view text);

}  // namespace authd::frontdoor
