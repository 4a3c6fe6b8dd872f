#include "frontdoor/target.hpp"

#include <algorithm>

#include <boost/url/parse.hpp>

namespace authd::frontdoor {
namespace {

bool clean(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char ch) {
    const auto byte = static_cast<unsigned char>(ch);
    return byte <= 0x20 || byte >= 0x7F;
  });
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
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
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return std::nullopt;
  const std::string scheme = ascii_lower(parsed->scheme());
  if (scheme != "https" && scheme != "http") return std::nullopt;
  if (!parsed->has_authority() || parsed->has_userinfo()) return std::nullopt;
  const std::string host = ascii_lower(parsed->encoded_host());
  if (host.empty()) return std::nullopt;
  const auto verb = method_of(method);
  if (!verb) return std::nullopt;
  std::string_view path = parsed->encoded_path();
  if (path.empty()) path = "/";
  auto normal = normalize_path(path);
  if (!normal) return std::nullopt;
  Original out;
  out.target = {host, std::move(*normal), *verb};
  out.url = std::string(url);
  out.http = scheme == "http";
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
