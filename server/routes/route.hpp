#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "audit/audit.hpp"
#include "auth/accounts.hpp"
#include "server/app.hpp"
#include "server/http.hpp"

// A route of API.md: declared once in the table (server/routes/table.cpp) with what it
// requires; its handler lives in the file of its area (accounts, backups, ops).
namespace authd::server {

namespace net = boost::asio;

// What handle_request establishes before the handler runs; the handler never checks it again.
enum class Needs {
  nothing,
  session,  // a valid session (cookie or Bearer): Call::session is set
  admin,    // the admin token as Bearer, or an admin's session
};

// One request on its way through a handler.
struct Call {
  App& app;
  const Request& request;
  std::vector<std::string> params;  // the pattern's '{}' segments, percent-decoded
  // Set for Needs::session, and for Needs::admin by session.
  std::shared_ptr<const auth::CachedSession> session;
  bool as_admin = false;  // the route needs an admin (and admit has found one)
};

using Handler = net::awaitable<Response> (*)(Call&);

struct Route {
  std::string_view method;
  std::string_view pattern;  // "/api/v1/admin/backups/{}": '{}' is one non-empty segment
  std::string_view name;     // logs and metrics; never the raw path
  Needs needs = Needs::nothing;
  Handler handler = nullptr;
  bool legacy = false;  // the original service's GET routes (AUTHD_LEGACY_ROUTES)
  // A GET that changes state (the legacy sign-up, login, logout, dump): refused cross-site like
  // every POST.
  bool changes_state = false;
};

// Every route, in matching order.
const std::vector<Route>& route_table();

// The audit trail's view of a request: where it came from (400 invalid_user_agent for a
// User-Agent that is not printable UTF-8: nothing is stored altered) and who acted: "self" on a
// user's own routes, "admin:<id>" for an admin's session, "admin_token" for the token.
audit::Origin origin_of(const Call& call);
std::string actor_of(const Call& call);
audit::Event event_of(const Call& call, audit::Type type, std::optional<std::int64_t> user,
                      boost::json::object detail = {});
// Queues the event on the trail (written in a batch, off the request path).
void record(const Call& call, audit::Type type, std::optional<std::int64_t> user,
            boost::json::object detail = {});

// Handlers, by area (server/routes/<area>.cpp).
namespace ops {
net::awaitable<Response> healthz(Call& call);
net::awaitable<Response> readyz(Call& call);
net::awaitable<Response> metrics(Call& call);
}  // namespace ops
namespace accounts {
net::awaitable<Response> signup(Call& call);
net::awaitable<Response> login(Call& call);
net::awaitable<Response> logout(Call& call);
net::awaitable<Response> me(Call& call);
net::awaitable<Response> change_password(Call& call);
net::awaitable<Response> logout_all(Call& call);
net::awaitable<Response> legacy_signup(Call& call);
net::awaitable<Response> legacy_login(Call& call);
net::awaitable<Response> legacy_logout(Call& call);
}  // namespace accounts
namespace authz {
net::awaitable<Response> auth_request(Call& call);
net::awaitable<Response> forward_auth(Call& call);
}  // namespace authz
namespace email {
net::awaitable<Response> verify(Call& call);
net::awaitable<Response> resend(Call& call);
net::awaitable<Response> recovery(Call& call);
net::awaitable<Response> recovery_complete(Call& call);
net::awaitable<Response> change(Call& call);
}  // namespace email
namespace second_factor {
net::awaitable<Response> setup(Call& call);
net::awaitable<Response> qr(Call& call);
net::awaitable<Response> confirm(Call& call);
net::awaitable<Response> disable(Call& call);
net::awaitable<Response> recovery_codes(Call& call);
net::awaitable<Response> login(Call& call);
net::awaitable<Response> admin_remove(Call& call);
}  // namespace second_factor
namespace pages {
net::awaitable<Response> login(Call& call);
net::awaitable<Response> signup(Call& call);
net::awaitable<Response> account(Call& call);
net::awaitable<Response> recovery(Call& call);
net::awaitable<Response> reset(Call& call);
net::awaitable<Response> verify(Call& call);
net::awaitable<Response> asset(Call& call);
}  // namespace pages
namespace backups {
net::awaitable<Response> create(Call& call);
net::awaitable<Response> list(Call& call);
net::awaitable<Response> latest(Call& call);
net::awaitable<Response> by_id(Call& call);
}  // namespace backups
namespace sessions {
net::awaitable<Response> list(Call& call);
net::awaitable<Response> revoke(Call& call);
}  // namespace sessions
namespace admin {
net::awaitable<Response> search_users(Call& call);
net::awaitable<Response> get_user(Call& call);
net::awaitable<Response> update_user(Call& call);
net::awaitable<Response> delete_user(Call& call);
net::awaitable<Response> logout_user(Call& call);
net::awaitable<Response> audit(Call& call);
}  // namespace admin

}  // namespace authd::server
