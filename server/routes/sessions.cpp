#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// A user's own sessions: where they are signed in, and ending one of them.
namespace authd::server::sessions {

net::awaitable<Response> list(Call& call) {
  boost::json::array found = co_await call.app.accounts.list_sessions(call.session->session);
  co_return json_of(200, {{"sessions", std::move(found)}});
}

net::awaitable<Response> revoke(Call& call) {
  const auto user_id = call.session->session.user.id;
  const std::string& id = call.params.at(0);
  audit::Event event = event_of(call, audit::Type::session_revoked, user_id, {{"session", id}});
  // Awaited into a named value: GCC 12 miscompiles co_await inside a condition.
  const bool ended = co_await call.app.accounts.revoke_session(user_id, id, std::move(event));
  if (!ended) throw Refused{{auth::ErrorKind::not_found, "not_found", "There is no such session."}};
  co_return no_content();
}

}  // namespace authd::server::sessions
