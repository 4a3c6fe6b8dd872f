#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// The front door's access rules (AUTHD_ACCESS_RULES): which policy a proxied request falls
// under, by its host, its path and its method. Pure: no I/O, no session.
namespace authd::frontdoor {

enum class Policy { bypass, one_factor, two_factor, admin, deny };

std::string_view policy_name(Policy policy);

struct Rule {
  std::vector<std::string> domains;        // lower-case; "*.example.com" is any subdomain
  std::vector<std::string> path_prefixes;  // normalised; empty: every path
  std::vector<std::string> methods;        // upper-case; empty: every method
  Policy policy = Policy::deny;
};

// The original request as the rules see it: host lower-case without its port, path decoded
// and normalised (normalize_path), method upper-case.
struct Target {
  std::string host;
  std::string path;
  std::string method;
};

class Rules {
 public:
  // Without a rules file every target needs a signed-in user.
  Rules() = default;
  Rules(Policy default_policy, std::vector<Rule> rules)
      : default_policy_(default_policy), rules_(std::move(rules)) {}

  // The first rule that matches decides; else the default policy.
  Policy decide(const Target& target) const;
  std::size_t size() const { return rules_.size(); }

 private:
  Policy default_policy_ = Policy::one_factor;
  std::vector<Rule> rules_;
};

// A rules file that cannot be used: what names the rule ("rule 3: unknown policy \"x\"").
struct RulesError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// {"default_policy": ..., "rules": [{"domain": [...], "path_prefix": [...], "methods": [...],
// "policy": ...}, ...]}. Throws RulesError for anything it does not understand: a rule that
// means something else than it says is worse than no start.
Rules parse_rules(std::string_view json);

// The path of a request URI as the rules compare it: the query dropped, every %-escape decoded
// (%2F too), empty segments collapsed, "." and ".." applied (never above the root). nullopt for
// what no server should take: a bad %-escape, a decoded NUL or control, not starting with '/'.
std::optional<std::string> normalize_path(std::string_view uri_path);

// Whether prefix covers path, segment-wise: "/admin" covers "/admin" and "/admin/x", not
// "/administrator". A prefix ending in '/' covers what starts with it.
bool path_has_prefix(std::string_view path, std::string_view prefix);

// Whether a host matches a rule's domain: equal, or for "*.example.com" any name below
// example.com (not example.com itself).
bool domain_matches(std::string_view host, std::string_view domain);

}  // namespace authd::frontdoor
