#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// Mail's routes (API.md): verification, recovery and email change. The mails themselves leave
// from the outbox, never from the request.
namespace authd::server::email {

namespace {

Response accepted(std::string_view status) {
  return json_of(202, {{"status", status}});
}

}  // namespace

net::awaitable<Response> verify(Call& call) {
  const auto body = json_body(call.request);
  audit::Event event = event_of(call, audit::Type::email_verified, std::nullopt);
  take(co_await call.app.accounts.verify_email(string_field(body, "token"), std::move(event)));
  co_return no_content();
}

net::awaitable<Response> resend(Call& call) {
  take(co_await call.app.accounts.resend_verification(call.session->session));
  co_return accepted("queued");
}

net::awaitable<Response> recovery(Call& call) {
  const auto body = json_body(call.request);
  audit::Event event = event_of(call, audit::Type::recovery_requested, std::nullopt);
  take(co_await call.app.accounts.request_recovery(
      string_field(body, "email"), client_address(call.app, call.request), std::move(event)));
  co_return accepted("sent_if_registered");
}

net::awaitable<Response> recovery_complete(Call& call) {
  const auto body = json_body(call.request);
  audit::Event event = event_of(call, audit::Type::recovery_completed, std::nullopt);
  take(co_await call.app.accounts.complete_recovery(
      string_field(body, "token"), string_field(body, "new_password"), std::move(event)));
  co_return no_content();
}

net::awaitable<Response> change(Call& call) {
  const auto body = json_body(call.request);
  take(co_await call.app.accounts.change_email(
      call.session->session, string_field(body, "password"), string_field(body, "new_email"),
      call.request.client_gone));
  co_return accepted("confirmation_sent");
}

}  // namespace authd::server::email
