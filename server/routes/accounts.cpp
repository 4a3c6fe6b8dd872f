#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// Sign-up, login, logout and the session's own routes, by JSON and by the legacy GET paths.
namespace authd::server::accounts {

namespace {

net::awaitable<Response> signup_with(Call& call, auth::SignupRequest signup_request) {
  const audit::Origin origin = origin_of(call);
  const auth::User user = take(co_await call.app.accounts.signup(std::move(signup_request)));
  call.app.audit.record({audit::Type::signup, user.id, "self", origin, {}});
  co_return json_of(201, {{"user", user_json(user)}});
}

net::awaitable<Response> login_with(Call& call, std::string identifier, bool by_email,
                                    std::string password) {
  audit::Origin origin = origin_of(call);
  auth::Credentials credentials{std::move(identifier),       by_email,
                                std::move(password),         std::move(origin.ip),
                                call.request.client_gone,    std::move(origin.user_agent),
                                std::move(origin.request_id)};
  const auth::LoginResult result = take(co_await call.app.accounts.login(std::move(credentials)));
  co_return login_answer(call.app, call.request, result);
}

Response with_cleared_cookie(const Call& call, Response response) {
  response.headers.emplace_back("Set-Cookie", session_cookie(call.app, call.request, "", 0));
  return response;
}

// True when the request's session existed and has ended.
net::awaitable<bool> end_session(Call& call) {
  const auto token = session_token(call.request);
  if (!token) co_return false;
  const audit::Origin origin = origin_of(call);
  const auto ended = co_await call.app.accounts.logout(*token);
  if (ended) call.app.audit.record({audit::Type::logout, *ended, "self", origin, {}});
  co_return ended.has_value();
}

Refused unauthorized() {
  return Refused{
      {auth::ErrorKind::unauthenticated, "unauthorized", "A valid session is required."}};
}

}  // namespace

net::awaitable<Response> signup(Call& call) {
  const auto body = json_body(call.request);
  auth::SignupRequest request{string_field(body, "username"), string_field(body, "email"),
                              string_field(body, "password"),
                              client_address(call.app, call.request), call.request.client_gone};
  co_return co_await signup_with(call, std::move(request));
}

net::awaitable<Response> login(Call& call) {
  const auto body = json_body(call.request);
  const bool by_email = body.contains("email");
  if (by_email == body.contains("username")) {
    throw Refused{{auth::ErrorKind::invalid, "missing_field",
                   "Give either 'email' or 'username', not both."}};
  }
  std::string identifier = string_field(body, by_email ? "email" : "username");
  std::string password = string_field(body, "password");
  co_return co_await login_with(call, std::move(identifier), by_email, std::move(password));
}

net::awaitable<Response> logout(Call& call) {
  // Awaited into a named value: GCC 12 miscompiles co_await inside a condition (SIGILL).
  const bool ended = co_await end_session(call);
  if (!ended) throw unauthorized();
  co_return with_cleared_cookie(call, no_content());
}

net::awaitable<Response> me(Call& call) {
  // Serialised once, when the session was read from the database.
  co_return json_response(200, call.session->me_body);
}

net::awaitable<Response> change_password(Call& call) {
  const auto body = json_body(call.request);
  std::string current = string_field(body, "current_password");
  std::string next = string_field(body, "new_password");
  take(co_await call.app.accounts.change_password(call.session->session, std::move(current),
                                                  std::move(next), call.request.client_gone));
  record(call, audit::Type::password_changed, call.session->session.user.id);
  co_return no_content();
}

net::awaitable<Response> logout_all(Call& call) {
  co_await call.app.accounts.logout_all(call.session->session.user.id);
  record(call, audit::Type::logout_all, call.session->session.user.id);
  co_return with_cleared_cookie(call, no_content());
}

net::awaitable<Response> legacy_signup(Call& call) {
  auto& p = call.params;
  auth::SignupRequest request{std::move(p.at(0)), std::move(p.at(1)), std::move(p.at(2)),
                              client_address(call.app, call.request), call.request.client_gone};
  co_return co_await signup_with(call, std::move(request));
}

net::awaitable<Response> legacy_login(Call& call) {
  auto& p = call.params;
  co_return co_await login_with(call, std::move(p.at(0)), true, std::move(p.at(1)));
}

// The original service answered 200 whether or not a session existed.
net::awaitable<Response> legacy_logout(Call& call) {
  co_await end_session(call);
  co_return with_cleared_cookie(call, json_of(200, {{"status", "logged_out"}}));
}

}  // namespace authd::server::accounts
