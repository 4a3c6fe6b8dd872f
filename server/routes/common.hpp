#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json/object.hpp>

#include "auth/accounts.hpp"
#include "auth/error.hpp"
#include "server/app.hpp"
#include "server/http.hpp"

// What the handlers of every area share: reading JSON bodies and credentials, writing users
// and cookies.
namespace authd::server {

// A refusal raised while reading a request (a malformed body, a missing field) or taken from a
// domain result; handle_request answers it through problem_from_error. Handlers read straight
// down instead of checking every step.
struct Refused {
  auth::Error error;
};

// 401 unauthorized: the route needs a session and the request has none that is valid.
Refused unauthorized();

// The domain value, or Refused with the domain's error.
template <class T>
T take(auth::Result<T> result) {
  if (auto* error = std::get_if<auth::Error>(&result)) throw Refused{std::move(*error)};
  return std::get<T>(std::move(result));
}

// The request body as a JSON object (400 malformed_json otherwise).
boost::json::object json_body(const Request& request);
// A required string field (400 missing_field / wrong_type, naming it).
std::string string_field(const boost::json::object& body, std::string_view name);

boost::json::object user_json(const auth::User& user);
// An optional string field: empty when absent (400 wrong_type when not a string).
std::string optional_string_field(const boost::json::object& body, std::string_view name);
Response json_of(int status, const boost::json::object& body);
// A login's answer: the session (and its cookie), or for a user with a second factor the
// challenge alone.
Response login_answer(const App& app, const Request& request, const auth::LoginResult& result);
Response no_content();

// A query parameter's decoded value; nullopt when absent. 400 invalid_query when the query
// string cannot be decoded or the value is not printable UTF-8.
std::optional<std::string> query_param(const Request& request, std::string_view name);

inline constexpr std::string_view kCookieName = "authd_session";

// The session token: "Authorization: Bearer" first, else the cookie (a view into the request).
std::optional<std::string_view> session_token(const Request& request);
// The Bearer credential alone: the admin token is accepted only this way.
std::optional<std::string_view> bearer_token(const Request& request);

// The client as API.md defines it: the peer, or behind trusted proxies the right-most
// X-Forwarded-For entry that is not itself a trusted proxy.
std::string client_address(const App& app, const Request& request);

// True when the peer is one of AUTHD_TRUSTED_PROXIES: its X-Forwarded-* headers count.
bool via_trusted_proxy(const App& app, const Request& request);

// True when the client reached authd over TLS: authd's own, or a trusted proxy's
// X-Forwarded-Proto: https.
bool over_tls(const App& app, const Request& request);

// Set-Cookie for the session (Secure as AUTHD_COOKIE_SECURE says); max_age 0 clears it.
std::string session_cookie(const App& app, const Request& request, std::string_view token,
                           std::int64_t max_age);

}  // namespace authd::server
