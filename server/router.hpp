#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace authd::server {

// What a request is, once matched: id indexes the handler table, name is what logs show.
struct RouteMatch {
  int id;
  std::string_view name;
  std::vector<std::string> params;  // percent-decoded path segments matched by '{}'
};
struct NotFound {};
struct MethodNotAllowed {
  std::string allow;  // e.g. "GET, POST"
};
// A matched route whose parameters are not valid percent-encoding.
struct BadPath {
  std::string_view name;
};
using RouteResult = std::variant<RouteMatch, NotFound, MethodNotAllowed, BadPath>;

class Router {
 public:
  // pattern: "/api/v1/backups/{}" — '{}' matches one non-empty segment.
  void add(std::string method, std::string_view pattern, int id, std::string_view name);
  RouteResult match(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    int id;
    std::string_view name;
  };
  std::vector<Route> routes_;
};

// "%2F" → "/"; nullopt for a truncated or non-hex escape. '+' stays '+' in paths.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace authd::server
