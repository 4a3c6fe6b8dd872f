#include <algorithm>
#include <exception>

#include <openssl/crypto.h>

#include "auth/validation.hpp"
#include "db/digest.hpp"
#include "server/problem.hpp"
#include "server/routes.hpp"
#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// From a matched request to its answer: what the route needs (a session, an admin), the rules for
// requests from browsers (API.md), the handler, and every failure as problem+json.
namespace authd::server {

namespace {

constexpr std::string_view kCorsMaxAge = "600";

using auth::ascii_lower;

bool is_json(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return ascii_lower(type) == "application/json";
}

// scheme://host[:port] as the client reached authd: a browser's Origin for same-origin calls.
std::string own_origin(const App& app, const Request& request) {
  std::optional<std::string_view> host = request.header("host");
  // Behind a trusted proxy the client's host is the one the proxy received.
  if (const auto forwarded = request.header("x-forwarded-host");
      forwarded && via_trusted_proxy(app, request)) {
    host = forwarded;
  }
  return (over_tls(app, request) ? "https://" : "http://") + ascii_lower(host.value_or(""));
}

bool allowed_origin(const App& app, std::string_view origin) {
  const auto& allowed = app.config.allowed_origins;
  return std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
}

bool changes_state(const Route& route) {
  return route.changes_state || (route.method != "GET" && route.method != "HEAD");
}

// A browser marked it as coming from another site: Sec-Fetch-Site, or an Origin that is neither
// authd's own nor allowed. Requests with neither header (curl, servers) are not browsers'.
bool cross_site(const App& app, const Request& request) {
  if (const auto site = request.header("sec-fetch-site");
      site && ascii_lower(*site) == "cross-site") {
    return true;
  }
  const auto origin = request.header("origin");
  if (!origin) return false;
  return ascii_lower(*origin) != own_origin(app, request) && !allowed_origin(app, *origin);
}

void add_cors(Response& response, std::string_view origin) {
  response.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  response.headers.emplace_back("Access-Control-Allow-Credentials", "true");
  response.headers.emplace_back("Vary", "Origin");
}

// An OPTIONS preflight from an allowed origin; nullopt when this is not one.
std::optional<Response> preflight(const App& app, const Request& request) {
  const auto origin = request.header("origin");
  if (request.method != "OPTIONS" || !origin || !allowed_origin(app, *origin) ||
      !request.header("access-control-request-method")) {
    return std::nullopt;
  }
  Response response = no_content();
  add_cors(response, *origin);
  response.headers.emplace_back("Access-Control-Allow-Methods", "GET, HEAD, POST, PATCH, DELETE");
  response.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, Authorization");
  response.headers.emplace_back("Access-Control-Max-Age", std::string(kCorsMaxAge));
  return response;
}

bool is_admin_token(const App& app, std::string_view given) {
  if (!app.config.admin_token) return false;
  // Digests of equal length, compared in constant time: neither length nor content leaks.
  const db::Sha256Digest a = db::sha256(given);
  const db::Sha256Digest b = db::sha256(*app.config.admin_token);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Refused unauthorized() {
  return Refused{
      {auth::ErrorKind::unauthenticated, "unauthorized", "A valid session is required."}};
}

// Establishes what the route needs, or throws the refusal. A route that changes state reads the
// session from the database; the others may take it from the session cache.
net::awaitable<void> admit(Call& call, Needs needs, bool fresh) {
  if (needs == Needs::nothing) co_return;
  if (needs == Needs::admin) {
    call.as_admin = true;
    if (const auto bearer = bearer_token(call.request);
        bearer && is_admin_token(call.app, *bearer)) {
      co_return;
    }
  }
  const auto token = session_token(call.request);
  if (token) call.session = co_await call.app.accounts.check_session(*token, fresh);
  if (!call.session) throw unauthorized();
  if (needs == Needs::admin && call.session->session.user.role != "admin") {
    throw Refused{{auth::ErrorKind::forbidden, "forbidden", "This needs an administrator."}};
  }
}

Response refuse_http(int status, std::string_view code, std::string_view detail) {
  return problem(status, code, detail);
}

// Headers every routed answer gets: it may carry a user, a session, a token or a backup. Only the
// portal's pages and assets say otherwise, for themselves (they carry none of those).
void finish(const App& app, const Request& request, Response& response) {
  const bool cache_set =
      std::any_of(response.headers.begin(), response.headers.end(),
                  [](const auto& header) { return header.first == "Cache-Control"; });
  if (!cache_set) response.headers.emplace_back("Cache-Control", "no-store");
  if (over_tls(app, request)) {
    response.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
  }
  if (const auto origin = request.header("origin"); origin && allowed_origin(app, *origin)) {
    add_cors(response, *origin);
  }
}

net::awaitable<Response> run(App& app, const Request& request, const Route& route,
                             std::vector<std::string> params) {
  if (changes_state(route) && cross_site(app, request)) {
    co_return refuse_http(403, "cross_site_request",
                          "This request came from another site; it is refused.");
  }
  if (!request.body.empty()) {
    if (const auto type = request.header("content-type"); type && !is_json(*type)) {
      co_return refuse_http(415, "unsupported_media_type",
                            "Request bodies must be application/json.");
    }
  }
  Call call{app, request, std::move(params), nullptr};
  std::exception_ptr failure;
  try {
    co_await admit(call, route.needs, changes_state(route));
    // Awaited into a named value first: GCC 12 mishandles co_await inside an aggregate.
    Response response = co_await route.handler(call);
    co_return response;
  } catch (const Refused& refused) {
    co_return problem_from_error(refused.error);
  } catch (...) {
    failure = std::current_exception();
  }
  Response response = problem_from_exception(failure);
  if (response.status == 500) {
    app.log.event("error", "unexpected failure in route " + std::string(route.name));
  }
  co_return response;
}

}  // namespace

std::vector<std::string_view> route_names() {
  std::vector<std::string_view> names;
  for (const auto& route : route_table()) names.push_back(route.name);
  return names;
}

Router make_router(bool legacy_routes) {
  Router router;
  const auto& table = route_table();
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (table[i].legacy && !legacy_routes) continue;
    router.add(std::string(table[i].method), table[i].pattern, static_cast<int>(i), table[i].name);
  }
  return router;
}

net::awaitable<Handled> handle_request(App& app, const Request& request) {
  const std::size_t unmatched = route_table().size();
  if (auto answer = preflight(app, request))
    co_return Handled{std::move(*answer), unmatched, "preflight"};
  // HEAD is GET without the body; the connection leaves the body out.
  const std::string_view method =
      request.method == "HEAD" ? std::string_view("GET") : std::string_view(request.method);
  auto result = app.router.match(method, request.path);
  if (std::holds_alternative<NotFound>(result)) {
    co_return Handled{problem(404, "not_found", "There is nothing here."), unmatched, "unmatched"};
  }
  if (auto* wrong = std::get_if<MethodNotAllowed>(&result)) {
    Response response = problem(405, "method_not_allowed", "This path does not take that method.");
    std::string allow = wrong->allow;
    if (allow.find("GET") != std::string::npos) allow += ", HEAD";
    response.headers.emplace_back("Allow", std::move(allow));
    co_return Handled{std::move(response), unmatched, "unmatched"};
  }
  if (auto* bad = std::get_if<BadPath>(&result)) {
    co_return Handled{problem(400, "malformed_path", "The path has an invalid %-escape."),
                      unmatched, bad->name};
  }
  auto& match = std::get<RouteMatch>(result);
  const auto index = static_cast<std::size_t>(match.id);
  const Route& route = route_table()[index];
  Response response = co_await run(app, request, route, std::move(match.params));
  finish(app, request, response);
  co_return Handled{std::move(response), index, route.name};
}

}  // namespace authd::server
