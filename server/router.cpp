#include "server/router.hpp"

#include <boost/url/pct_string_view.hpp>

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

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  const auto checked = boost::urls::make_pct_string_view(text);
  if (!checked) return std::nullopt;
  return checked->decode();
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
