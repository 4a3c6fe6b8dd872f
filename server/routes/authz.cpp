#include "frontdoor/front_door.hpp"
#include "frontdoor/target.hpp"
#include "server/problem.hpp"
#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// The front door (API.md): a reverse proxy asks whether the request it holds may go through,
// and learns who it is for. The original request comes from the proxy's headers; the verdict
// from the access rules and the session, which the session cache usually answers.
namespace authd::server::authz {

namespace {

using frontdoor::Original;
using frontdoor::Policy;
using frontdoor::Verdict;

bool accepts_html(const Request& request) {
  const auto accept = request.header("accept");
  return accept && accept->find("text/html") != std::string_view::npos;
}

// What the rule and the session decide, before it is put in the proxy's terms.
enum class Decision { allow, sign_in, second_factor, forbid };

Decision decide(Policy policy, const auth::CachedSession* session) {
  switch (policy) {
    case Policy::bypass:
      return Decision::allow;
    case Policy::deny:
      return Decision::forbid;
    case Policy::one_factor:
      return session ? Decision::allow : Decision::sign_in;
    case Policy::two_factor:
      if (!session) return Decision::second_factor;
      return session->session.aal == "aal2" ? Decision::allow : Decision::second_factor;
    case Policy::admin:
      if (!session) return Decision::sign_in;
      return session->session.user.role == "admin" ? Decision::allow : Decision::forbid;
  }
  return Decision::forbid;
}

// forward: Traefik/Caddy/HAProxy, who pass a 302 on to the browser; else nginx, who is told 401
// with the Location its error_page redirects to.
net::awaitable<Response> verdict(Call& call, const std::optional<Original>& original,
                                 bool forward) {
  frontdoor::FrontDoor& door = call.app.front_door;
  if (!original) {
    door.count(Verdict::forbidden);
    co_return problem(403, "forbidden",
                      "The original request could not be read (its method, host or path).");
  }
  const auto rules = door.rules();
  const Policy policy = rules->decide(original->target);
  std::shared_ptr<const auth::CachedSession> session;
  if (const auto token = session_token(call.request)) {
    session = co_await call.app.accounts.check_session(*token);
  }
  const Decision decision = decide(policy, session.get());
  if (decision == Decision::allow) {
    door.count(Verdict::allowed);
    Response response;
    response.status = 200;
    response.content_type = {};
    // Without a session the same names, empty: a proxy that copies them (Caddy 2.6 writes its
    // placeholder's own text for a missing one) passes nothing a client could have sent.
    static const auto kNobody =
        std::make_shared<const std::string>(auth::identity_block("", "", "", "", ""));
    // Shares the cached session's block (the aliasing constructor): nothing is copied.
    response.raw_headers =
        session ? std::shared_ptr<const std::string>(session, &session->identity_block) : kNobody;
    co_return response;
  }
  if (decision == Decision::forbid ||
      (decision == Decision::second_factor && session && !door.portal_url())) {
    door.count(Verdict::forbidden);
    co_return problem(403, "forbidden", "This needs more than this session has.");
  }
  // Sign in (again, or with a second factor) at the portal, then come back.
  const bool aal2 = decision == Decision::second_factor;
  const int status = aal2 && session ? 403 : 401;
  Response response = status == 401 ? problem(401, "unauthorized", "A valid session is required.")
                                    : problem(403, "forbidden", "This needs a second factor.");
  if (const auto& portal = door.portal_url()) {
    std::string location = frontdoor::login_location(*portal, original->url, aal2);
    const bool browser_get =
        (original->target.method == "GET" || original->target.method == "HEAD") &&
        accepts_html(call.request);
    if (forward && browser_get) {
      door.count(Verdict::redirected);
      Response redirect;
      redirect.status = 302;
      redirect.content_type = {};
      redirect.headers.emplace_back("Location", std::move(location));
      co_return redirect;
    }
    response.headers.emplace_back("Location", std::move(location));
  }
  door.count(status == 401 ? Verdict::unauthorized : Verdict::forbidden);
  co_return response;
}

std::string_view header_or_empty(const Request& request, std::string_view name) {
  return request.header(name).value_or(std::string_view());
}

}  // namespace

net::awaitable<Response> auth_request(Call& call) {
  const Request& r = call.request;
  const auto original = frontdoor::from_original_url(header_or_empty(r, "x-original-method"),
                                                     header_or_empty(r, "x-original-url"));
  co_return co_await verdict(call, original, false);
}

net::awaitable<Response> forward_auth(Call& call) {
  const Request& r = call.request;
  const auto original = frontdoor::from_forwarded(
      header_or_empty(r, "x-forwarded-method"), header_or_empty(r, "x-forwarded-proto"),
      header_or_empty(r, "x-forwarded-host"), header_or_empty(r, "x-forwarded-uri"));
  co_return co_await verdict(call, original, true);
}

}  // namespace authd::server::authz
