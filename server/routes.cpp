#include "server/routes.hpp"

#include <charconv>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <pqxx/nontransaction>

#include "auth/accounts.hpp"
#include "auth/hash_pool.hpp"
#include "backup/backups.hpp"
#include "db/async_db.hpp"
#include "db/executor.hpp"
#include "db/statements.hpp"
#include "server/cidr.hpp"
#include "server/problem.hpp"

namespace authd::server {

namespace net = boost::asio;
namespace json = boost::json;

namespace {

enum RouteId : int {
  kHealthz,
  kReadyz,
  kMetrics,
  kSignup,
  kLogin,
  kLogout,
  kMe,
  kPassword,
  kLogoutAll,
  kBackupCreate,
  kBackupList,
  kBackupLatest,
  kBackupGet,
  kLegacySignup,
  kLegacyLogin,
  kLegacyLogout,
  kLegacyDump,
  kLegacyShowBackup,
  kRouteCount
};

constexpr std::string_view kNames[kRouteCount] = {
    "healthz",     "readyz",           "metrics",      "signup",
    "login",       "logout",           "me",           "password",
    "logout_all",  "backup_create",    "backup_list",  "backup_latest",
    "backup_get",  "legacy_signup",    "legacy_login", "legacy_logout",
    "legacy_dump", "legacy_showbackup"};

constexpr std::string_view kCookieName = "authd_session";

json::object user_json(const auth::User& user) {
  return {{"id", user.id},
          {"username", user.username},
          {"email", user.email},
          {"role", user.role},
          {"created_at", user.created_at}};
}

Response json_of(int status, const json::object& body) {
  return json_response(status, json::serialize(body));
}

Response from_error(const auth::Error& error) {
  return problem_from_error(error);
}

std::string session_cookie(const App& app, const Request& request, std::string_view token,
                           std::int64_t max_age) {
  std::string cookie = std::string(kCookieName) + "=" + std::string(token) +
                       "; HttpOnly; SameSite=Lax; Path=/; Max-Age=" + std::to_string(max_age);
  if (request.tls || app.config.tls_cert) cookie += "; Secure";
  return cookie;
}

// The session token from "Authorization: Bearer" or else the cookie.
std::optional<std::string> token_of(const Request& request) {
  if (const auto authorization = request.header("authorization")) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization->size() > kBearer.size() &&
        std::equal(kBearer.begin(), kBearer.end(), authorization->begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return std::string(authorization->substr(kBearer.size()));
    }
  }
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
        return std::string(pair.substr(kCookieName.size() + 1));
      }
    }
  }
  return std::nullopt;
}

// The client as API.md defines it: the peer, or behind trusted proxies the right-most
// X-Forwarded-For entry that is not itself a trusted proxy.
std::string client_address(const App& app, const Request& request) {
  const auto& proxies = app.config.trusted_proxies;
  const auto trusted = [&](const std::array<unsigned char, 16>& address) {
    return std::any_of(proxies.begin(), proxies.end(),
                       [&](const Cidr& c) { return cidr_contains(c, address); });
  };
  if (proxies.empty() || !trusted(request.peer)) return request.peer_text;
  std::vector<std::string> hops;
  for (const auto& [name, value] : request.headers) {
    if (name != "x-forwarded-for") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view hop = rest.substr(0, comma);
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
      while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
      while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
      hops.emplace_back(hop);
    }
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    const auto address = parse_ip(*it);
    if (!address) return request.peer_text;  // garbage from a client: fall back to the proxy
    if (!trusted(*address)) return *it;
  }
  return hops.empty() ? request.peer_text : hops.front();
}

// A JSON object body; nullopt and a ready problem when it is not one.
std::variant<json::object, Response> parse_object(const Request& request) {
  boost::system::error_code ec;
  json::value value = json::parse(request.body, ec);
  if (ec || !value.is_object()) {
    return problem(400, "malformed_json", "The request body must be a JSON object.");
  }
  return std::move(value.as_object());
}

// A required string field: a problem naming the field when it is missing or not a string.
std::variant<std::string, Response> string_field(const json::object& body, std::string_view name) {
  const auto* value = body.if_contains(name);
  if (value == nullptr) {
    return problem(400, "missing_field", "The field '" + std::string(name) + "' is required.");
  }
  if (!value->is_string()) {
    return problem(400, "wrong_type", "The field '" + std::string(name) + "' must be a string.");
  }
  return std::string(value->as_string());
}

net::awaitable<std::optional<auth::Session>> session_of(App& app, const Request& request) {
  const auto token = token_of(request);
  if (!token) co_return std::nullopt;
  co_return co_await app.accounts.authenticate(*token);
}

Response unauthorized() {
  return problem(401, "unauthorized", "A valid session is required.");
}

// Admin: the configured admin token (compared in constant time) or an admin's session.
// nullopt means allowed; otherwise the 401 or 403 to send.
net::awaitable<std::optional<Response>> require_admin(App& app, const Request& request) {
  const auto token = token_of(request);
  if (!token) co_return unauthorized();
  if (app.config.admin_token) {
    unsigned char given[SHA256_DIGEST_LENGTH];
    unsigned char expected[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token->data()), token->size(), given);
    SHA256(reinterpret_cast<const unsigned char*>(app.config.admin_token->data()),
           app.config.admin_token->size(), expected);
    if (CRYPTO_memcmp(given, expected, sizeof(given)) == 0) co_return std::nullopt;
  }
  const auto session = co_await app.accounts.authenticate(*token);
  if (!session) co_return unauthorized();
  if (session->user.role != "admin") {
    co_return problem(403, "forbidden", "This needs an administrator.");
  }
  co_return std::nullopt;
}

net::awaitable<Response> signup(App& app, const Request& request, std::string username,
                                std::string email, std::string password) {
  // Named first: GCC 12 destroys a braced temporary coroutine argument twice.
  auth::SignupRequest signup_request{std::move(username), std::move(email), std::move(password),
                                     client_address(app, request), request.client_gone};
  auto outcome = co_await app.accounts.signup(std::move(signup_request));
  if (auto* error = std::get_if<auth::Error>(&outcome)) co_return from_error(*error);
  co_return json_of(201, {{"user", user_json(std::get<auth::User>(outcome))}});
}

net::awaitable<Response> login(App& app, const Request& request, std::string identifier,
                               bool by_email, std::string password) {
  auth::Credentials credentials{std::move(identifier), by_email, std::move(password),
                                client_address(app, request), request.client_gone};
  auto outcome = co_await app.accounts.login(std::move(credentials));
  if (auto* error = std::get_if<auth::Error>(&outcome)) co_return from_error(*error);
  const auto& result = std::get<auth::LoginResult>(outcome);
  Response response = json_of(200, {{"user", user_json(result.user)},
                                    {"token", result.token},
                                    {"expires_at", result.expires_at}});
  response.headers.emplace_back(
      "Set-Cookie", session_cookie(app, request, result.token, app.config.session_ttl.count()));
  response.headers.emplace_back("Cache-Control", "no-store");
  co_return response;
}

net::awaitable<Response> json_signup(App& app, const Request& request) {
  auto body = parse_object(request);
  if (auto* r = std::get_if<Response>(&body)) co_return std::move(*r);
  const auto& object = std::get<json::object>(body);
  auto username = string_field(object, "username");
  if (auto* r = std::get_if<Response>(&username)) co_return std::move(*r);
  auto email = string_field(object, "email");
  if (auto* r = std::get_if<Response>(&email)) co_return std::move(*r);
  auto password = string_field(object, "password");
  if (auto* r = std::get_if<Response>(&password)) co_return std::move(*r);
  co_return co_await signup(app, request, std::move(std::get<std::string>(username)),
                            std::move(std::get<std::string>(email)),
                            std::move(std::get<std::string>(password)));
}

net::awaitable<Response> json_login(App& app, const Request& request) {
  auto body = parse_object(request);
  if (auto* r = std::get_if<Response>(&body)) co_return std::move(*r);
  const auto& object = std::get<json::object>(body);
  const bool by_email = object.contains("email");
  if (by_email == object.contains("username")) {
    co_return problem(400, "missing_field", "Give either 'email' or 'username', not both.");
  }
  auto identifier = string_field(object, by_email ? "email" : "username");
  if (auto* r = std::get_if<Response>(&identifier)) co_return std::move(*r);
  auto password = string_field(object, "password");
  if (auto* r = std::get_if<Response>(&password)) co_return std::move(*r);
  co_return co_await login(app, request, std::move(std::get<std::string>(identifier)), by_email,
                           std::move(std::get<std::string>(password)));
}

Response cleared_cookie(const App& app, const Request& request, Response response) {
  response.headers.emplace_back("Set-Cookie", session_cookie(app, request, "", 0));
  return response;
}

net::awaitable<Response> logout(App& app, const Request& request, bool legacy) {
  const auto token = token_of(request);
  bool ended = false;
  if (token) ended = co_await app.accounts.logout(*token);
  if (legacy) {
    co_return cleared_cookie(app, request, json_of(200, {{"status", "logged_out"}}));
  }
  if (!ended) co_return unauthorized();
  Response response;
  response.status = 204;
  co_return cleared_cookie(app, request, std::move(response));
}

net::awaitable<Response> me(App& app, const Request& request) {
  const auto session = co_await session_of(app, request);
  if (!session) co_return unauthorized();
  co_return json_of(200, {{"user", user_json(session->user)},
                          {"session", {{"expires_at", session->expires_at}}}});
}

net::awaitable<Response> change_password(App& app, const Request& request) {
  const auto session = co_await session_of(app, request);
  if (!session) co_return unauthorized();
  auto body = parse_object(request);
  if (auto* r = std::get_if<Response>(&body)) co_return std::move(*r);
  const auto& object = std::get<json::object>(body);
  auto current = string_field(object, "current_password");
  if (auto* r = std::get_if<Response>(&current)) co_return std::move(*r);
  auto next = string_field(object, "new_password");
  if (auto* r = std::get_if<Response>(&next)) co_return std::move(*r);
  auto outcome = co_await app.accounts.change_password(
      *session, std::move(std::get<std::string>(current)), std::move(std::get<std::string>(next)),
      request.client_gone);
  if (auto* error = std::get_if<auth::Error>(&outcome)) co_return from_error(*error);
  Response response;
  response.status = 204;
  co_return response;
}

net::awaitable<Response> logout_all(App& app, const Request& request) {
  const auto session = co_await session_of(app, request);
  if (!session) co_return unauthorized();
  co_await app.accounts.logout_all(session->user.id);
  Response response;
  response.status = 204;
  co_return cleared_cookie(app, request, std::move(response));
}

Response backup_busy() {
  return problem(409, "backup_in_progress", "Another backup is being written; try again.", 1);
}

net::awaitable<Response> create_backup(App& app, const Request& request) {
  if (auto refused = co_await require_admin(app, request)) co_return std::move(*refused);
  if (app.backup_running.exchange(true)) co_return backup_busy();
  // Cleared however the backup ends.
  struct Clear {
    App& app;
    ~Clear() { app.backup_running = false; }
  } clear{app};
  auto create = [&app](pqxx::connection& c) { return app.backups.create(c); };
  try {
    auto info = co_await app.backup_db.run(std::move(create));
    co_return json_response(201, backup::to_json(info));
  } catch (const backup::BackupInProgress&) {
    // Another instance holds the backup lock.
  }
  co_return backup_busy();
}

net::awaitable<Response> list_backups(App& app, const Request& request) {
  if (auto refused = co_await require_admin(app, request)) co_return std::move(*refused);
  auto query = [](pqxx::connection& c) { return backup::BackupService::list(c); };
  auto all = co_await app.db.run(std::move(query));
  std::string body = "{\"backups\":[";
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i > 0) body += ',';
    body += backup::to_json(all[i]);
  }
  body += "]}";
  co_return json_response(200, std::move(body));
}

net::awaitable<Response> download_backup(App& app, const Request& request,
                                         std::optional<std::string> id_text) {
  if (auto refused = co_await require_admin(app, request)) co_return std::move(*refused);
  std::optional<std::int64_t> id;
  if (id_text) {
    std::int64_t value = 0;
    const auto [end, ec] =
        std::from_chars(id_text->data(), id_text->data() + id_text->size(), value);
    if (ec != std::errc{} || end != id_text->data() + id_text->size() || value <= 0) {
      co_return problem(404, "backup_not_found", "There is no such backup.");
    }
    id = value;
  }
  auto query = [id](pqxx::connection& c) {
    return id ? backup::BackupService::find(c, *id) : backup::BackupService::latest(c);
  };
  auto info = co_await app.db.run(std::move(query));
  if (!info) co_return problem(404, "backup_not_found", "There is no such backup yet.");
  Response response;
  response.content_type = "text/csv; charset=utf-8";
  response.file = FileBody{app.backups.path_of(*info), info->file};
  co_return response;
}

net::awaitable<Response> readyz(App& app) {
  try {
    auto ping = [](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec_prepared(std::string(db::sql::kPing.name));
    };
    co_await app.db.run(std::move(ping), std::chrono::milliseconds(900));
    co_return json_of(200, {{"status", "ready"}});
  } catch (const std::exception&) {
    co_return problem(503, "database_unavailable", "PostgreSQL does not answer.", 1);
  }
}

net::awaitable<Response> dispatch(App& app, const Request& request, RouteMatch& match) {
  auto& p = match.params;
  switch (match.id) {
    case kHealthz:
      co_return text_response(200, "ok");
    case kReadyz:
      co_return co_await readyz(app);
    case kMetrics: {
      Response response = text_response(200, app.metrics.render(collect_gauges(app)));
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      co_return response;
    }
    case kSignup:
      co_return co_await json_signup(app, request);
    case kLogin:
      co_return co_await json_login(app, request);
    case kLogout:
      co_return co_await logout(app, request, false);
    case kMe:
      co_return co_await me(app, request);
    case kPassword:
      co_return co_await change_password(app, request);
    case kLogoutAll:
      co_return co_await logout_all(app, request);
    case kBackupCreate:
    case kLegacyDump:
      co_return co_await create_backup(app, request);
    case kBackupList:
      co_return co_await list_backups(app, request);
    case kBackupLatest:
    case kLegacyShowBackup:
      co_return co_await download_backup(app, request, std::nullopt);
    case kBackupGet:
      co_return co_await download_backup(app, request, p.at(0));
    case kLegacySignup:
      co_return co_await signup(app, request, std::move(p.at(0)), std::move(p.at(1)),
                                std::move(p.at(2)));
    case kLegacyLogin:
      co_return co_await login(app, request, std::move(p.at(0)), true, std::move(p.at(1)));
    case kLegacyLogout:
      co_return co_await logout(app, request, true);
    default:
      co_return problem(404, "not_found", "There is nothing here.");
  }
}

}  // namespace

std::vector<std::string_view> route_names() {
  return {std::begin(kNames), std::end(kNames)};
}

Router make_router(bool legacy_routes) {
  Router router;
  router.add("GET", "/healthz", kHealthz, kNames[kHealthz]);
  router.add("GET", "/readyz", kReadyz, kNames[kReadyz]);
  router.add("GET", "/metrics", kMetrics, kNames[kMetrics]);
  router.add("POST", "/api/v1/signup", kSignup, kNames[kSignup]);
  router.add("POST", "/api/v1/login", kLogin, kNames[kLogin]);
  router.add("POST", "/api/v1/logout", kLogout, kNames[kLogout]);
  router.add("GET", "/api/v1/me", kMe, kNames[kMe]);
  router.add("POST", "/api/v1/password", kPassword, kNames[kPassword]);
  router.add("POST", "/api/v1/logout-all", kLogoutAll, kNames[kLogoutAll]);
  router.add("POST", "/api/v1/admin/backups", kBackupCreate, kNames[kBackupCreate]);
  router.add("GET", "/api/v1/admin/backups", kBackupList, kNames[kBackupList]);
  router.add("GET", "/api/v1/admin/backups/latest", kBackupLatest, kNames[kBackupLatest]);
  router.add("GET", "/api/v1/admin/backups/{}", kBackupGet, kNames[kBackupGet]);
  if (legacy_routes) {
    router.add("GET", "/signup/{}/{}/{}", kLegacySignup, kNames[kLegacySignup]);
    router.add("GET", "/login/{}/{}", kLegacyLogin, kNames[kLegacyLogin]);
    router.add("GET", "/logout", kLegacyLogout, kNames[kLegacyLogout]);
    router.add("GET", "/dump", kLegacyDump, kNames[kLegacyDump]);
    router.add("GET", "/showbackup", kLegacyShowBackup, kNames[kLegacyShowBackup]);
  }
  return router;
}

net::awaitable<Handled> handle_request(App& app, const Request& request) {
  auto result = app.router.match(request.method, request.path);
  if (std::holds_alternative<NotFound>(result)) {
    co_return Handled{problem(404, "not_found", "There is nothing here."), kRouteCount,
                      "unmatched"};
  }
  if (auto* wrong = std::get_if<MethodNotAllowed>(&result)) {
    Response response = problem(405, "method_not_allowed", "This path does not take that method.");
    response.headers.emplace_back("Allow", wrong->allow);
    co_return Handled{std::move(response), kRouteCount, "unmatched"};
  }
  if (auto* bad = std::get_if<BadPath>(&result)) {
    co_return Handled{problem(400, "malformed_path", "The path has an invalid %-escape."),
                      kRouteCount, bad->name};
  }
  auto& match = std::get<RouteMatch>(result);
  const auto route = static_cast<std::size_t>(match.id);
  std::exception_ptr failure;
  try {
    // Awaited into a named value first: GCC 12 mishandles co_await inside an aggregate.
    Response response = co_await dispatch(app, request, match);
    co_return Handled{std::move(response), route, match.name};
  } catch (...) {
    failure = std::current_exception();
  }
  Response response = problem_from_exception(failure);
  if (response.status == 500) {
    app.log.event("error", "unexpected failure in route " + std::string(match.name));
  }
  co_return Handled{std::move(response), route, match.name};
}

Gauges collect_gauges(App& app) {
  Gauges g;
  g.hash_running = app.hashes.running();
  g.hash_waiting = app.hashes.waiting();
  g.hash_paired = app.hashes.paired();
  const auto pool = app.pool.stats();
  g.db_size = pool.size;
  g.db_in_use = pool.in_use;
  g.db_idle = pool.idle;
  g.db_waiting = pool.waiting + app.db.queued();
  g.db_waited_total = pool.waited_total;
  const auto loops = app.requests_db.stats();
  g.loop_db_size = loops.size;
  g.loop_db_open = loops.open;
  g.loop_db_in_use = loops.in_use;
  g.loop_db_waiting = loops.waiting;
  g.loop_db_retried = app.requests_db.retried();
  const auto& counters = app.accounts.counters();
  g.logins_ok = counters.ok.load();
  g.logins_bad_credentials = counters.bad_credentials.load();
  g.logins_limited = counters.limited.load();
  g.logins_overloaded = counters.overloaded.load();
  g.sessions_created = counters.sessions_created.load();
  g.backups_made = app.backups.made();
  g.backups_failed = app.backups.failed();
  return g;
}

}  // namespace authd::server
