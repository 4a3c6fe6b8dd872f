#include "server/router.hpp"

namespace authd::server {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.empty() || path.front() != '/') return segments;
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

void Router::add(std::string method, std::string_view pattern, int id, std::string_view name) {
  Route route{std::move(method), {}, id, name};
  for (auto segment : split_path(pattern)) route.segments.emplace_back(segment);
  routes_.push_back(std::move(route));
}

RouteResult Router::match(std::string_view method, std::string_view path) const {
  const auto segments = split_path(path);
  std::string allow;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < segments.size() && same; ++i) {
      same = route.segments[i] == "{}" ? !segments[i].empty() : route.segments[i] == segments[i];
    }
    if (!same) continue;
    if (route.method != method) {
      if (allow.find(route.method) == std::string::npos) {
        allow += allow.empty() ? route.method : ", " + route.method;
      }
      continue;
    }
    RouteMatch found{route.id, route.name, {}};
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (route.segments[i] != "{}") continue;
      auto decoded = percent_decode(segments[i]);
      if (!decoded) return BadPath{route.name};
      found.params.push_back(std::move(*decoded));
    }
    return found;
  }
  if (!allow.empty()) return MethodNotAllowed{allow};
  return NotFound{};
}

}  // namespace authd::server
