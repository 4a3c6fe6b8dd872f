#include <array>
#include <string>

#include <openssl/rand.h>

#include <boost/url/parse_query.hpp>

#include "auth/base64.hpp"
#include "frontdoor/front_door.hpp"
#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// Pages for people. For now the one the front door sends them to: sign in, then back to where
// they were going (rd), if that is a place authd may send them.
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

std::string nonce() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return auth::base64_encode(bytes);
}

constexpr std::string_view kPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in</title>
<style nonce="@NONCE@">
body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}#error{color:#b00020;min-height:1.2rem}
</style></head>
<body>
<h1>Sign in</h1>
<p id="note">@NOTE@</p>
<form id="login" data-next="@NEXT@">
<label for="identifier">Username or email</label>
<input id="identifier" name="identifier" autocomplete="username" required maxlength="254" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
<p id="error" role="alert"></p>
</form>
<script nonce="@NONCE@">
document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target, error = document.getElementById('error');
  const identifier = form.identifier.value.trim();
  const body = identifier.includes('@') ? {email: identifier} : {username: identifier};
  body.password = form.password.value;
  error.textContent = '';
  try {
    const answer = await fetch('/api/v1/login', {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    if (answer.ok) { window.location.assign(form.dataset.next); return; }
    const problem = await answer.json().catch(() => ({}));
    error.textContent = problem.detail || 'Signing in did not work.';
  } catch (e) {
    error.textContent = 'authd cannot be reached.';
  }
});
</script>
</body></html>
)";

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

net::awaitable<Response> login(Call& call) {
  const frontdoor::FrontDoor& door = call.app.front_door;
  const std::string rd = query_value(call.request.query, "rd");
  const bool aal2 = query_value(call.request.query, "aal") == "aal2";
  // Where to go once signed in: rd when it is safe, else this portal's own start.
  std::string next = "/api/v1/me";
  if (const auto* policy = door.redirect_policy();
      policy && frontdoor::safe_redirect(rd, *policy)) {
    next = rd;
  }
  std::string note = aal2 ? "This page needs a second factor as well, which this authd does not "
                            "offer yet; signing in with a password alone will not be enough."
                          : "Sign in to continue.";
  const std::string n = nonce();
  std::string page(kPage);
  page = replace_all(std::move(page), "@NONCE@", n);
  page = replace_all(std::move(page), "@NEXT@", html_escape(next));
  page = replace_all(std::move(page), "@NOTE@", html_escape(note));
  Response response;
  response.status = 200;
  response.content_type = "text/html; charset=utf-8";
  response.body = std::move(page);
  response.headers.emplace_back("Content-Security-Policy",
                                "default-src 'none'; script-src 'nonce-" + n +
                                    "'; style-src 'nonce-" + n +
                                    "'; connect-src 'self'; form-action 'self'; "
                                    "frame-ancestors 'none'; base-uri 'none'");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  co_return response;
}

}  // namespace authd::server::pages
