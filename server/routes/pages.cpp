#include <string>
#include <string_view>

#include <boost/url/parse_query.hpp>

#include "frontdoor/front_door.hpp"
#include "server/portal/assets.hpp"
#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// Pages for people (the portal): plain HTML, one stylesheet and one script, embedded at build
// time from server/portal/. Every page calls the JSON API from the browser; the sign-in page
// alone is filled in here, with where to go once signed in (rd, if authd may send people there).
namespace authd::server::pages {

namespace {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

// A query parameter's decoded value; empty when absent or not decodable.
std::string query_value(std::string_view query, std::string_view name) {
  const auto params = boost::urls::parse_query(query);
  if (!params) return {};
  for (const auto& param : *params) {
    if (param.has_value && param.key.decode() == name) return param.value.decode();
  }
  return {};
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Where a page goes once it is done: the account page.
constexpr std::string_view kHome = "/account";

// The headers of every portal answer: its own files only, never in a frame, no referrer (the
// reset and verification pages carry their token in the URL).
void secure(Response& response) {
  response.headers.emplace_back("Content-Security-Policy",
                                "default-src 'self'; frame-ancestors 'none'");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
}

// A page or asset as built, with its ETag: 304 when the browser has it already. Pages are
// checked again on every use (no-cache); hashed assets are kept for good.
Response serve(const Request& request, const portal::Asset& asset) {
  Response response;
  secure(response);
  response.headers.emplace_back("ETag", std::string(asset.etag));
  response.headers.emplace_back(
      "Cache-Control", asset.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  if (request.header("if-none-match") == asset.etag) {
    response.status = 304;
    return response;
  }
  response.content_type = asset.content_type;
  response.body = asset.body;
  return response;
}

[[noreturn]] void not_found() {
  throw Refused{auth::Error{auth::ErrorKind::not_found, "not_found", "There is no such page."}};
}

Response page(const Call& call, std::string_view name) {
  const portal::Asset* asset = portal::find_asset(name);
  if (asset == nullptr) not_found();
  return serve(call.request, *asset);
}

}  // namespace

net::awaitable<Response> login(Call& call) {
  const frontdoor::FrontDoor& door = call.app.front_door;
  const std::string rd = query_value(call.request.query, "rd");
  const bool aal2 = query_value(call.request.query, "aal") == "aal2";
  // Where to go once signed in: rd when it is safe, else this portal's own start.
  std::string next(kHome);
  if (const auto* policy = door.redirect_policy();
      policy && frontdoor::safe_redirect(rd, *policy)) {
    next = rd;
  }
  const std::string_view note =
      aal2 ? "This page needs a second factor: sign in with your password, then the code from "
             "your authenticator app."
           : "Sign in to continue.";
  const portal::Asset* asset = portal::find_asset("login");
  if (asset == nullptr) not_found();
  std::string body(asset->body);
  body = replace_all(std::move(body), "@NEXT@", html_escape(next));
  body = replace_all(std::move(body), "@NOTE@", html_escape(note));
  Response response;
  secure(response);
  response.headers.emplace_back("Cache-Control", "no-store");
  response.content_type = asset->content_type;
  response.body = std::move(body);
  co_return response;
}

net::awaitable<Response> signup(Call& call) {
  co_return page(call, "signup");
}
net::awaitable<Response> account(Call& call) {
  co_return page(call, "account");
}
net::awaitable<Response> recovery(Call& call) {
  co_return page(call, "recovery");
}
net::awaitable<Response> reset(Call& call) {
  co_return page(call, "reset");
}
net::awaitable<Response> verify(Call& call) {
  co_return page(call, "verify");
}

// /portal/<name>: the stylesheet, script and icon, by their hashed names only.
net::awaitable<Response> asset(Call& call) {
  const portal::Asset* found = portal::find_asset(call.params.at(0));
  if (found == nullptr || !found->immutable) not_found();
  co_return serve(call.request, *found);
}

}  // namespace authd::server::pages
