#include <charconv>

#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// The second factor's routes (API.md): enrolment, its QR code, confirmation, disabling, new
// recovery codes, the second step of a login, and an admin's removal.
namespace authd::server::second_factor {

namespace {

boost::json::array codes_json(const std::vector<std::string>& codes) {
  boost::json::array out;
  for (const auto& code : codes) out.emplace_back(code);
  return out;
}

}  // namespace

net::awaitable<Response> setup(Call& call) {
  const auto body = json_body(call.request);
  const auth::TotpSetup setup = take(co_await call.app.accounts.totp_setup(
      call.session->session, string_field(body, "password"), call.request.client_gone));
  co_return json_of(200, {{"secret", setup.secret}, {"otpauth_uri", setup.otpauth_uri}});
}

net::awaitable<Response> qr(Call& call) {
  std::string svg = take(co_await call.app.accounts.totp_qr(call.session->session));
  Response response;
  response.status = 200;
  response.content_type = "image/svg+xml";
  response.body = std::move(svg);
  co_return response;
}

net::awaitable<Response> confirm(Call& call) {
  const auto body = json_body(call.request);
  const auto codes = take(
      co_await call.app.accounts.totp_confirm(call.session->session, string_field(body, "code")));
  record(call, audit::Type::totp_enabled, call.session->session.user.id);
  co_return json_of(200, {{"recovery_codes", codes_json(codes)}});
}

net::awaitable<Response> disable(Call& call) {
  const auto body = json_body(call.request);
  take(co_await call.app.accounts.totp_disable(
      call.session->session, string_field(body, "password"), string_field(body, "code"),
      call.request.client_gone));
  record(call, audit::Type::totp_disabled, call.session->session.user.id);
  co_return no_content();
}

net::awaitable<Response> recovery_codes(Call& call) {
  const auto body = json_body(call.request);
  const auto codes = take(co_await call.app.accounts.renew_recovery_codes(
      call.session->session, string_field(body, "password"), string_field(body, "code"),
      call.request.client_gone));
  co_return json_of(200, {{"recovery_codes", codes_json(codes)}});
}

net::awaitable<Response> login(Call& call) {
  const auto body = json_body(call.request);
  audit::Origin origin = origin_of(call);
  auth::MfaAttempt attempt{string_field(body, "mfa_token"),
                           optional_string_field(body, "code"),
                           optional_string_field(body, "recovery_code"),
                           std::move(origin.ip),
                           std::move(origin.user_agent),
                           std::move(origin.request_id)};
  const auth::LoginResult result = take(co_await call.app.accounts.login_mfa(std::move(attempt)));
  co_return login_answer(call.app, call.request, result);
}

net::awaitable<Response> admin_remove(Call& call) {
  const std::string& text = call.params.at(0);
  std::int64_t id = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (error != std::errc() || end != text.data() + text.size() || id <= 0) {
    throw Refused{{auth::ErrorKind::not_found, "not_found", "There is no such user."}};
  }
  audit::Event event = event_of(call, audit::Type::admin_totp_removed, id);
  take(co_await call.app.accounts.remove_totp(id, std::move(event)));
  co_return no_content();
}

}  // namespace authd::server::second_factor
