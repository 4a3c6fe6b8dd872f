#include "frontdoor/rules.hpp"

#include <algorithm>
#include <array>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/pct_string_view.hpp>

#include "frontdoor/text.hpp"

namespace authd::frontdoor {
namespace {

namespace json = boost::json;

constexpr std::array<std::pair<std::string_view, Policy>, 5> kPolicies{{
    {"bypass", Policy::bypass},
    {"one_factor", Policy::one_factor},
    {"two_factor", Policy::two_factor},
    {"admin", Policy::admin},
    {"deny", Policy::deny},
}};

constexpr std::array<std::string_view, 9> kMethods{"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                                   "DELETE", "OPTIONS", "CONNECT", "TRACE"};

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::optional<Policy> policy_from(std::string_view name) {
  for (const auto& [n, p] : kPolicies) {
    if (n == name) return p;
  }
  return std::nullopt;
}

// A domain as a rule may name it: letters, digits, '-' and '.', optionally after "*.".
bool valid_domain(std::string_view domain) {
  if (domain.starts_with("*.")) domain.remove_prefix(2);
  if (domain.empty() || domain.size() > 253 || domain.front() == '.' || domain.back() == '.') {
    return false;
  }
  return std::all_of(domain.begin(), domain.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
  });
}

// A string or a list of strings, as each field may be written.
std::vector<std::string> strings_of(const json::value& value, const std::string& where) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.emplace_back(value.get_string());
    return out;
  }
  if (!value.is_array()) throw RulesError(where + " must be a string or a list of strings");
  for (const auto& item : value.get_array()) {
    if (!item.is_string()) throw RulesError(where + " must be a list of strings");
    out.emplace_back(item.get_string());
  }
  if (out.empty()) throw RulesError(where + " must not be empty");
  return out;
}

Policy policy_of(const json::value& value, const std::string& where) {
  if (!value.is_string()) throw RulesError(where + " must be a string");
  const auto policy = policy_from(value.get_string());
  if (!policy) {
    throw RulesError(where + ": unknown policy " + quoted(value.get_string()) +
                     " (bypass, one_factor, two_factor, admin or deny)");
  }
  return *policy;
}

Rule rule_of(const json::value& value, std::size_t number) {
  const std::string where = "rule " + std::to_string(number);
  if (!value.is_object()) throw RulesError(where + " must be an object");
  Rule rule;
  bool has_policy = false;
  for (const auto& [key, field] : value.get_object()) {
    if (key == "domain") {
      for (auto& d : strings_of(field, where + " domain")) {
        std::string domain = ascii_lower(d);
        if (!valid_domain(domain)) throw RulesError(where + ": invalid domain " + quoted(d));
        rule.domains.push_back(std::move(domain));
      }
    } else if (key == "path_prefix") {
      for (auto& p : strings_of(field, where + " path_prefix")) {
        const auto normal = normalize_path(p);
        if (!normal || p.find('?') != std::string::npos) {
          throw RulesError(where + ": invalid path_prefix " + quoted(p) + " (it starts with /)");
        }
        rule.path_prefixes.push_back(*normal);
      }
    } else if (key == "methods") {
      for (auto& m : strings_of(field, where + " methods")) {
        std::string method = ascii_upper(m);
        if (std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end()) {
          throw RulesError(where + ": unknown method " + quoted(m));
        }
        rule.methods.push_back(std::move(method));
      }
    } else if (key == "policy") {
      rule.policy = policy_of(field, where + " policy");
      has_policy = true;
    } else {
      throw RulesError(where + ": unknown field " + quoted(key) +
                       " (domain, path_prefix, methods, policy)");
    }
  }
  if (rule.domains.empty()) throw RulesError(where + " needs a domain");
  if (!has_policy) throw RulesError(where + " needs a policy");
  return rule;
}

bool matches(const Rule& rule, const Target& target) {
  const bool domain =
      std::any_of(rule.domains.begin(), rule.domains.end(),
                  [&](const std::string& d) { return domain_matches(target.host, d); });
  if (!domain) return false;
  if (!rule.methods.empty() &&
      std::find(rule.methods.begin(), rule.methods.end(), target.method) == rule.methods.end()) {
    return false;
  }
  if (rule.path_prefixes.empty()) return true;
  return std::any_of(rule.path_prefixes.begin(), rule.path_prefixes.end(),
                     [&](const std::string& p) { return path_has_prefix(target.path, p); });
}

}  // namespace

std::string_view policy_name(Policy policy) {
  for (const auto& [n, p] : kPolicies) {
    if (p == policy) return n;
  }
  return "deny";
}

Policy Rules::decide(const Target& target) const {
  for (const auto& rule : rules_) {
    if (matches(rule, target)) return rule.policy;
  }
  return default_policy_;
}

Rules parse_rules(std::string_view text) {
  boost::system::error_code ec;
  const json::value root = json::parse(text, ec);
  if (ec) throw RulesError("not JSON: " + ec.message());
  if (!root.is_object()) throw RulesError("the rules file must be a JSON object");
  Policy default_policy = Policy::one_factor;
  std::vector<Rule> rules;
  for (const auto& [key, field] : root.get_object()) {
    if (key == "default_policy") {
      default_policy = policy_of(field, "default_policy");
    } else if (key == "rules") {
      if (!field.is_array()) throw RulesError("rules must be a list");
      std::size_t number = 0;
      for (const auto& item : field.get_array()) rules.push_back(rule_of(item, ++number));
    } else {
      throw RulesError("unknown field " + quoted(key) + " (default_policy, rules)");
    }
  }
  return Rules(default_policy, std::move(rules));
}

std::optional<std::string> normalize_path(std::string_view uri_path) {
  uri_path = uri_path.substr(0, uri_path.find_first_of("?#"));
  if (uri_path.empty() || uri_path.front() != '/') return std::nullopt;
  // Already normal (nearly every path): nothing to decode, no dot or empty segment.
  const bool plain = uri_path.find_first_of("%\\;") == std::string_view::npos &&
                     uri_path.find("//") == std::string_view::npos &&
                     uri_path.find("/.") == std::string_view::npos &&
                     std::none_of(uri_path.begin(), uri_path.end(), [](char ch) {
                       return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F;
                     });
  if (plain) return std::string(uri_path);
  const auto escaped = boost::urls::make_pct_string_view(uri_path);
  if (!escaped) return std::nullopt;
  const std::string decoded = escaped->decode();
  std::vector<std::string_view> segments;
  std::string_view rest = decoded;
  bool trailing = false;
  while (!rest.empty()) {
    const std::size_t end = rest.find_first_of("/\\");
    std::string_view segment = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    // Servlet-style parameters (";jsessionid=…") are no part of the name a backend serves.
    segment = segment.substr(0, segment.find(';'));
    trailing = rest.empty() && end != std::string_view::npos;
    for (char ch : segment) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F) return std::nullopt;
    }
    if (segment.empty() || segment == ".") {
      if (rest.empty()) trailing = true;
      continue;
    }
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      if (rest.empty()) trailing = true;
      continue;
    }
    segments.push_back(segment);
  }
  std::string out;
  for (const auto segment : segments) {
    out += '/';
    out += segment;
  }
  if (out.empty() || trailing) out += '/';
  return out;
}

bool path_has_prefix(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

bool domain_matches(std::string_view host, std::string_view domain) {
  if (domain.starts_with("*.")) {
    const std::string_view parent = domain.substr(1);  // ".example.com"
    return host.size() > parent.size() && host.ends_with(parent);
  }
  return host == domain;
}

}  // namespace authd::frontdoor
