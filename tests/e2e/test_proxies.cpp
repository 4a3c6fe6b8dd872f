#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <thread>

#include <boost/json/parse.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

// The README's front-door recipes, run for real: nginx (auth_request) and Caddy (forward_auth)
// in front of authd and of a small upstream that says which user it was told about.
using namespace authd::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kRules = R"({"default_policy": "one_factor",
 "rules": [{"domain": ["public.example.com"], "policy": "bypass"}]})";

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

bool wait_for_port(unsigned short port, std::chrono::milliseconds limit = 10s) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    try {
      HttpClient probe(port);
      return true;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(20ms);
    }
  }
  return false;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

struct Ports {
  unsigned short authd, front, upstream;
};

// nginx as the README configures it, with a second server block as the upstream.
constexpr const char* kNginx = R"(daemon off;
master_process off;
worker_processes 1;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path @DIR@/body;
  proxy_temp_path @DIR@/proxy;
  fastcgi_temp_path @DIR@/fastcgi;
  uwsgi_temp_path @DIR@/uwsgi;
  scgi_temp_path @DIR@/scgi;
  server {
    listen 127.0.0.1:@UPSTREAM@;
    location / {
      default_type text/plain;
      return 200 "user=$http_remote_user groups=$http_remote_groups aal=$http_remote_aal";
    }
  }
  server {
    listen 127.0.0.1:@FRONT@;
    location = /_authd {
      internal;
      proxy_pass http://127.0.0.1:@AUTHD@/api/v1/authz/auth-request;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }
    location / {
      auth_request /_authd;
      auth_request_set $authd_user $upstream_http_remote_user;
      auth_request_set $authd_email $upstream_http_remote_email;
      auth_request_set $authd_groups $upstream_http_remote_groups;
      auth_request_set $authd_id $upstream_http_remote_user_id;
      auth_request_set $authd_aal $upstream_http_remote_aal;
      auth_request_set $authd_login $upstream_http_location;
      error_page 401 =302 $authd_login;
      # Set from authd's answer only: whatever the client sent under these names is dropped.
      proxy_set_header Remote-User $authd_user;
      proxy_set_header Remote-Email $authd_email;
      proxy_set_header Remote-Groups $authd_groups;
      proxy_set_header Remote-User-Id $authd_id;
      proxy_set_header Remote-AAL $authd_aal;
      proxy_pass http://127.0.0.1:@UPSTREAM@;
    }
  }
}
)";

// Caddy as the README configures it, with a second site as the upstream.
constexpr const char* kCaddy = R"({
  admin off
  auto_https off
}
http://:@UPSTREAM@ {
  bind 127.0.0.1
  respond "user={http.request.header.Remote-User} groups={http.request.header.Remote-Groups} aal={http.request.header.Remote-AAL}" 200
}
http://:@FRONT@ {
  bind 127.0.0.1
  route {
    request_header -Remote-User
    request_header -Remote-Email
    request_header -Remote-Groups
    request_header -Remote-User-Id
    request_header -Remote-AAL
    forward_auth 127.0.0.1:@AUTHD@ {
      uri /api/v1/authz/forward-auth
      copy_headers Remote-User Remote-Email Remote-Groups Remote-User-Id Remote-AAL
    }
    reverse_proxy 127.0.0.1:@UPSTREAM@
  }
}
)";

std::string fill(const std::string& config, const TempDir& dir, const Ports& ports) {
  std::string out = replace_all(config, "@DIR@", dir.path());
  out = replace_all(out, "@AUTHD@", std::to_string(ports.authd));
  out = replace_all(out, "@FRONT@", std::to_string(ports.front));
  return replace_all(out, "@UPSTREAM@", std::to_string(ports.upstream));
}

std::string log_in(unsigned short port, const std::string& name) {
  const auto signup = http(port, "POST", "/api/v1/signup",
                           R"({"username":")" + name + R"(","email":")" + name +
                               R"(@example.com","password":"correct horse"})");
  REQUIRE(signup.status == 201);
  const auto login = http(port, "POST", "/api/v1/login",
                          R"({"username":")" + name + R"(","password":"correct horse"})");
  REQUIRE(login.status == 200);
  return std::string(json::parse(login.body).at("token").as_string());
}

// A browser's GET through the proxy.
HttpResponse browse(unsigned short port, const std::string& host, const std::string& path,
                    const std::string& token, Headers extra = {}) {
  HttpClient client(port);
  std::string text = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                     "\r\nAccept: text/html,application/xhtml+xml\r\nConnection: close\r\n";
  if (!token.empty()) text += "Cookie: authd_session=" + token + "\r\n";
  for (const auto& [name, value] : extra) text += name + ": " + value + "\r\n";
  client.send_raw(text + "\r\n");
  return client.read_response();
}

// What every proxy must get right, whichever it is.
void check_front_door(unsigned short authd, unsigned short front) {
  const std::string ann = log_in(authd, "ann");

  // Not signed in: sent to the portal, with the way back.
  const auto anonymous = browse(front, "app.example.com", "/page?x=1", "");
  CHECK(anonymous.status == 302);
  CHECK_THAT(anonymous.header("location").value_or(""),
             Catch::StartsWith("https://auth.example.com/login?rd=http%3A%2F%2Fapp.example.com") &&
                 Catch::EndsWith("%2Fpage%3Fx%3D1"));

  // Signed in: the upstream is told who.
  const auto in = browse(front, "app.example.com", "/page", ann);
  CHECK(in.status == 200);
  CHECK(in.body == "user=ann groups=user aal=aal1");

  // A client's own Remote-User never passes: not alone, not beside a real session.
  const Headers forged{{"Remote-User", "root"}, {"Remote-Groups", "admin,user"}};
  CHECK(browse(front, "app.example.com", "/page", "", forged).status == 302);
  CHECK(browse(front, "app.example.com", "/page", ann, forged).body ==
        "user=ann groups=user aal=aal1");
  CHECK(browse(front, "public.example.com", "/", "", forged).body == "user= groups= aal=");

  // After logout: refused again.
  REQUIRE(http(authd, "POST", "/api/v1/logout", "", {{"Authorization", "Bearer " + ann}}).status ==
          204);
  CHECK(browse(front, "app.example.com", "/page", ann).status == 302);
}

}  // namespace

TEST_CASE("nginx with auth_request in front of authd and an upstream", "[e2e][proxies]") {
  TempDir dir;
  write_file(dir.file("rules.json"), kRules);
  AuthdServer authd(fresh_database_url(), {{"AUTHD_ACCESS_RULES", dir.file("rules.json")},
                                           {"AUTHD_PORTAL_URL", "https://auth.example.com"},
                                           {"AUTHD_COOKIE_DOMAIN", "example.com"}});
  const Ports ports{authd.port(), free_port(), free_port()};
  write_file(dir.file("nginx.conf"), fill(kNginx, dir, ports));
  Process nginx("/usr/sbin/nginx", {"-p", dir.path(), "-c", dir.file("nginx.conf")}, {});
  REQUIRE(wait_for_port(ports.front));
  REQUIRE(wait_for_port(ports.upstream));
  check_front_door(ports.authd, ports.front);
  nginx.signal(SIGQUIT);
  CHECK(nginx.wait() == 0);
}

TEST_CASE("Caddy with forward_auth in front of authd and an upstream", "[e2e][proxies]") {
  TempDir dir;
  write_file(dir.file("rules.json"), kRules);
  AuthdServer authd(fresh_database_url(), {{"AUTHD_ACCESS_RULES", dir.file("rules.json")},
                                           {"AUTHD_PORTAL_URL", "https://auth.example.com"},
                                           {"AUTHD_COOKIE_DOMAIN", "example.com"}});
  const Ports ports{authd.port(), free_port(), free_port()};
  write_file(dir.file("Caddyfile"), fill(kCaddy, dir, ports));
  Process caddy("/usr/bin/caddy",
                {"run", "--config", dir.file("Caddyfile"), "--adapter", "caddyfile"},
                {{"HOME", dir.path()},
                 {"XDG_CONFIG_HOME", dir.file("config")},
                 {"XDG_DATA_HOME", dir.file("data")}});
  REQUIRE(wait_for_port(ports.front));
  REQUIRE(wait_for_port(ports.upstream));
  check_front_door(ports.authd, ports.front);
  caddy.signal(SIGTERM);
  CHECK(caddy.wait() >= 0);
}
