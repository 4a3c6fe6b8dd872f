#include "server/routes/common.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse_query.hpp>

#include "auth/validation.hpp"
#include "server/cidr.hpp"
#include "server/routes/route.hpp"

namespace authd::server {

namespace json = boost::json;

namespace {

Refused invalid(std::string code, std::string detail) {
  return Refused{{auth::ErrorKind::invalid, std::move(code), std::move(detail)}};
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

bool trusted_proxy(const App& app, const std::array<unsigned char, 16>& address) {
  const auto& proxies = app.config.trusted_proxies;
  return std::any_of(proxies.begin(), proxies.end(),
                     [&](const Cidr& c) { return cidr_contains(c, address); });
}

}  // namespace

Refused unauthorized() {
  return Refused{
      {auth::ErrorKind::unauthenticated, "unauthorized", "A valid session is required."}};
}

json::object json_body(const Request& request) {
  boost::system::error_code ec;
  json::value value = json::parse(request.body, ec);
  if (ec || !value.is_object()) {
    throw invalid("malformed_json", "The request body must be a JSON object.");
  }
  return std::move(value.as_object());
}

std::string string_field(const json::object& body, std::string_view name) {
  const auto* value = body.if_contains(name);
  if (value == nullptr) {
    throw invalid("missing_field", "The field '" + std::string(name) + "' is required.");
  }
  if (!value->is_string()) {
    throw invalid("wrong_type", "The field '" + std::string(name) + "' must be a string.");
  }
  return std::string(value->as_string());
}

std::string optional_string_field(const json::object& body, std::string_view name) {
  if (!body.contains(name)) return {};
  return string_field(body, name);
}

Response login_answer(const App& app, const Request& request, const auth::LoginResult& result) {
  if (result.mfa) {
    // Half way: no session and no cookie until the second factor is shown.
    return json_of(200, {{"mfa_required", true},
                         {"mfa_token", result.mfa->token},
                         {"expires_at", result.mfa->expires_at}});
  }
  Response response = json_of(200, {{"user", user_json(result.user)},
                                    {"token", result.token},
                                    {"expires_at", result.expires_at}});
  response.headers.emplace_back(
      "Set-Cookie", session_cookie(app, request, result.token, app.config.session_ttl.count()));
  return response;
}

json::object user_json(const auth::User& user) {
  return auth::user_object(user);
}

Response json_of(int status, const json::object& body) {
  return json_response(status, json::serialize(body));
}

Response no_content() {
  Response response;
  response.status = 204;
  return response;
}

std::optional<std::string_view> bearer_token(const Request& request) {
  const auto authorization = request.header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization || authorization->size() <= kBearer.size() ||
      !iequals_prefix(*authorization, kBearer)) {
    return std::nullopt;
  }
  return authorization->substr(kBearer.size());
}

std::optional<std::string_view> session_token(const Request& request) {
  if (const auto bearer = bearer_token(request)) return bearer;
  for (const auto& [name, value] : request.headers) {
    if (name != "cookie") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest.remove_prefix(semi == std::string_view::npos ? rest.size() : semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      if (pair.starts_with(kCookieName) && pair.size() > kCookieName.size() &&
          pair[kCookieName.size()] == '=') {
        return pair.substr(kCookieName.size() + 1);
      }
    }
  }
  return std::nullopt;
}

std::string client_address(const App& app, const Request& request) {
  if (app.config.trusted_proxies.empty() || !trusted_proxy(app, request.peer)) {
    return request.peer_text;
  }
  std::vector<std::string_view> hops;
  for (const auto& [name, value] : request.headers) {
    if (name != "x-forwarded-for") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view hop = rest.substr(0, comma);
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
      while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
      while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
      hops.push_back(hop);
    }
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    const auto address = parse_ip(*it);
    if (!address) return request.peer_text;  // garbage from a client: fall back to the proxy
    if (!trusted_proxy(app, *address)) return std::string(*it);
  }
  return hops.empty() ? request.peer_text : std::string(hops.front());
}

bool via_trusted_proxy(const App& app, const Request& request) {
  return !app.config.trusted_proxies.empty() && trusted_proxy(app, request.peer);
}

bool over_tls(const App& app, const Request& request) {
  if (request.tls) return true;
  if (!via_trusted_proxy(app, request)) return false;
  const auto proto = request.header("x-forwarded-proto");
  return proto && iequals_prefix(*proto, "https") && proto->size() == 5;
}

std::string session_cookie(const App& app, const Request& request, std::string_view token,
                           std::int64_t max_age) {
  std::string cookie = std::string(kCookieName) + "=" + std::string(token) +
                       "; HttpOnly; SameSite=Lax; Path=/; Max-Age=" + std::to_string(max_age);
  const bool secure = app.config.cookie_secure == CookieSecure::on ||
                      (app.config.cookie_secure == CookieSecure::automatic &&
                       (over_tls(app, request) || app.config.tls_cert));
  if (secure) cookie += "; Secure";
  if (app.config.cookie_domain) cookie += "; Domain=" + *app.config.cookie_domain;
  return cookie;
}

}  // namespace authd::server

namespace authd::server {

std::optional<std::string> query_param(const Request& request, std::string_view name) {
  const auto params = boost::urls::parse_query(request.query);
  if (!params) throw invalid("invalid_query", "The query string cannot be decoded.");
  for (const auto& param : *params) {
    if (param.key.decode() != name) continue;
    std::string value = param.has_value ? param.value.decode() : std::string();
    if (!auth::is_printable_utf8(value)) {
      throw invalid("invalid_query", "Query parameters must be printable UTF-8.");
    }
    return value;
  }
  return std::nullopt;
}

audit::Origin origin_of(const Call& call) {
  std::string agent(call.request.header("user-agent").value_or(""));
  if (!auth::is_printable_utf8(agent)) {
    throw Refused{{auth::ErrorKind::invalid, "invalid_user_agent",
                   "The User-Agent header must be printable UTF-8."}};
  }
  return {client_address(call.app, call.request), std::move(agent), call.request.request_id};
}

std::string actor_of(const Call& call) {
  if (!call.as_admin) return "self";
  if (!call.session) return "admin_token";
  return "admin:" + std::to_string(call.session->session.user.id);
}

audit::Event event_of(const Call& call, audit::Type type, std::optional<std::int64_t> user,
                      boost::json::object detail) {
  return audit::Event{type, user, actor_of(call), origin_of(call), std::move(detail)};
}

void record(const Call& call, audit::Type type, std::optional<std::int64_t> user,
            boost::json::object detail) {
  call.app.audit.record(event_of(call, type, user, std::move(detail)));
}

}  // namespace authd::server
