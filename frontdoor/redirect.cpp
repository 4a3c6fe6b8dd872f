#include "frontdoor/redirect.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

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

bool loopback(const boost::urls::url_view& url, std::string_view lowered_host) {
  switch (url.host_type()) {
    case boost::urls::host_type::ipv4:
      return url.host_ipv4_address().is_loopback();
    case boost::urls::host_type::ipv6:
      return url.host_ipv6_address().is_loopback();
    case boost::urls::host_type::name:
      return lowered_host == "localhost" || lowered_host.ends_with(".localhost");
    default:
      return false;
  }
}

// The port a URL reaches: its own, or its scheme's (only http and https get this far); none for
// port 0 or one past 65535. Read from the text: Boost.URL 1.81's port_number() wraps 99999 to
// 34463.
std::optional<unsigned> effective_port(const boost::urls::url_view& url, std::string_view scheme) {
  const std::string_view text = url.port();
  if (text.empty()) return scheme == "https" ? 443u : 80u;
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || port == 0 || port > 65535)
    return std::nullopt;
  return port;
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
  const auto type = parsed->host_type();
  const bool named = type == boost::urls::host_type::name;
  if (!named && type != boost::urls::host_type::ipv4 && type != boost::urls::host_type::ipv6)
    return false;
  const std::string host = ascii_lower(parsed->encoded_host());
  if (host.empty() || host.find('%') != std::string::npos) return false;
  if (policy.cookie_domain) return named && host_on(host, *policy.cookie_domain);
  // Without a cookie domain: the portal's own host (a name or the very same address), on the
  // portal's port, or on any port when that host is a loopback one (a developer's machine).
  if (host != ascii_lower(portal->encoded_host())) return false;
  const auto port = effective_port(*parsed, scheme);
  if (!port) return false;
  return loopback(*parsed, host) || port == effective_port(*portal, ascii_lower(portal->scheme()));
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
