#include "frontdoor/redirect.hpp"

#include <algorithm>

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "frontdoor/text.hpp"

namespace authd::frontdoor {
namespace {

bool host_on(std::string_view host, std::string_view domain) {
  return host == domain || (host.size() > domain.size() + 1 && host.ends_with(domain) &&
                            host[host.size() - domain.size() - 1] == '.');
}

}  // namespace

bool safe_redirect(std::string_view url, const RedirectPolicy& policy) {
  if (url.size() > 8192) return false;
  const bool clean = std::none_of(url.begin(), url.end(), [](char ch) {
    const auto byte = static_cast<unsigned char>(ch);
    return byte <= 0x20 || byte >= 0x7F || ch == '\\';
  });
  if (!clean) return false;
  const auto parsed = boost::urls::parse_absolute_uri(url);
  const auto portal = boost::urls::parse_absolute_uri(policy.portal_url);
  if (!parsed || !portal) return false;
  const std::string scheme = ascii_lower(parsed->scheme());
  const bool portal_http = ascii_lower(portal->scheme()) == "http";
  if (scheme != "https" && !(scheme == "http" && portal_http)) return false;
  if (!parsed->has_authority() || parsed->has_userinfo()) return false;
  if (parsed->host_type() != boost::urls::host_type::name) return false;
  const std::string host = ascii_lower(parsed->encoded_host());
  if (host.empty() || host.find('%') != std::string::npos) return false;
  if (policy.cookie_domain) return host_on(host, *policy.cookie_domain);
  return host == ascii_lower(portal->encoded_host());
}

std::string percent_encode(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

std::string login_location(std::string_view portal_url, std::string_view original_url,
                           bool second_factor) {
  std::string out(portal_url);
  out += "/login?rd=";
  out += percent_encode(original_url);
  if (second_factor) out += "&aal=aal2";
  return out;
}

}  // namespace authd::frontdoor
