#include "frontdoor/target.hpp"

#include <algorithm>

#include "frontdoor/text.hpp"

namespace authd::frontdoor {
namespace {

bool clean(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char ch) {
    const auto byte = static_cast<unsigned char>(ch);
    return byte <= 0x20 || byte >= 0x7F;
  });
}

std::optional<std::string> method_of(std::string_view method) {
  if (method.empty() || method.size() > 16) return std::nullopt;
  std::string out;
  for (char ch : method) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    if (ch < 'A' || ch > 'Z') return std::nullopt;
    out += ch;
  }
  return out;
}

}  // namespace

std::optional<Original> from_original_url(std::string_view method, std::string_view url) {
  if (!clean(url) || url.size() > 8192) return std::nullopt;
  // scheme://authority/path?query — read by hand: this runs for every proxied request.
  const auto colon = url.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string scheme = ascii_lower(url.substr(0, colon));
  if (scheme != "https" && scheme != "http") return std::nullopt;
  const std::string_view rest = url.substr(colon + 3);
  const std::size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view host = rest.substr(0, authority_end);
  if (host.find('@') != std::string_view::npos) return std::nullopt;  // no user info
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view port = host.substr(close + 1);
    if (!port.empty() &&
        (port.front() != ':' || port.size() == 1 ||
         port.substr(1).find_first_not_of("0123456789") != std::string_view::npos)) {
      return std::nullopt;
    }
    host = host.substr(0, close + 1);
  } else {
    if (const auto port = host.find(':'); port != std::string_view::npos) {
      const std::string_view digits = host.substr(port + 1);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
      }
      host = host.substr(0, port);
    }
    const bool name = std::all_of(host.begin(), host.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '.' || ch == '_';
    });
    if (!name) return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  const auto verb = method_of(method);
  if (!verb) return std::nullopt;
  std::string_view path = rest.substr(authority_end);
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty()) path = "/";
  auto normal = normalize_path(path);
  if (!normal) return std::nullopt;
  Original out;
  out.target = {ascii_lower(host), std::move(*normal), *verb};
  out.url = std::string(url);
  return out;
}

std::optional<Original> from_forwarded(std::string_view method, std::string_view proto,
                                       std::string_view host, std::string_view uri) {
  const std::string scheme = ascii_lower(proto);
  if (scheme != "https" && scheme != "http") return std::nullopt;
  if (host.empty() || !clean(host) || host.find_first_of("/?#@") != std::string_view::npos) {
    return std::nullopt;
  }
  if (uri.empty() || uri.front() != '/') return std::nullopt;
  std::string url = scheme + "://" + std::string(host) + std::string(uri);
  return from_original_url(method, url);
}

}  // namespace authd::frontdoor
