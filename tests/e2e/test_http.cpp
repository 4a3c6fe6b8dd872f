#include <catch2/catch.hpp>

#include <signal.h>

#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"

using namespace authd::test;
using namespace std::chrono_literals;

namespace {

// Sends `drip` every half second on a connection that has started a request, until the server
// closes it or 14 s pass; between drips, between_drips() runs. How long the server took, or
// nullopt when it never closed the connection.
template <class F>
std::optional<std::chrono::steady_clock::duration> time_until_cut_off(HttpClient& client,
                                                                      const std::string& drip,
                                                                      F between_drips) {
  const auto started = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - started < 14s) {
    try {
      client.send_raw(drip);
    } catch (const std::exception&) {
      return std::chrono::steady_clock::now() - started;
    }
    between_drips();
    if (client.closed_by_server(500ms)) return std::chrono::steady_clock::now() - started;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("healthz answers ok and every response carries a request id", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  const auto response = http(server.port(), "GET", "/healthz");
  CHECK(response.status == 200);
  CHECK(response.body == "ok");
  CHECK(response.header("x-request-id").value_or("").size() == 16);
  CHECK(http(server.port(), "GET", "/readyz").status == 200);
}

TEST_CASE("unknown paths get 404 and wrong methods 405 with Allow, as problem+json",
          "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  const auto missing = http(server.port(), "GET", "/no/such/thing");
  CHECK(missing.status == 404);
  CHECK(missing.header("content-type") == "application/problem+json");
  CHECK_THAT(missing.body, Catch::Contains("\"code\":\"not_found\""));
  CHECK_THAT(missing.body, Catch::Contains("\"status\":404"));
  const auto wrong = http(server.port(), "DELETE", "/api/v1/login");
  CHECK(wrong.status == 405);
  CHECK(wrong.header("allow") == "POST");
  CHECK(wrong.header("content-type") == "application/problem+json");
}

TEST_CASE("a body over 16 KiB gets 413, one of 16 KiB does not", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  const auto big = http(server.port(), "POST", "/api/v1/signup", std::string(16 * 1024 + 1, 'x'));
  CHECK(big.status == 413);
  CHECK(big.header("content-type") == "application/problem+json");
  const auto limit = http(server.port(), "POST", "/api/v1/signup", std::string(16 * 1024, ' '));
  CHECK(limit.status == 400);
}

TEST_CASE("a chunked body over 16 KiB gets 413", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  HttpClient client(server.port());
  std::string request =
      "POST /api/v1/signup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) request += "400\r\n" + std::string(1024, 'a') + "\r\n";
  request += "0\r\n\r\n";
  client.send_raw(request);
  CHECK(client.read_response().status == 413);
}

TEST_CASE("headers over 8 KiB are refused and the connection closes", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  HttpClient client(server.port());
  client.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') +
                  "\r\n\r\n");
  const auto response = client.read_response();
  CHECK(response.status == 431);
  CHECK(client.closed_by_server(2s));
}

TEST_CASE("malformed requests get 400 and the connection closes", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  const std::vector<std::string> bad = {
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
      "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "NOT A REQUEST\r\n\r\n",
  };
  for (const auto& text : bad) {
    INFO(text);
    HttpClient client(server.port());
    client.send_raw(text);
    const auto response = client.read_response();
    CHECK(response.status == 400);
    CHECK(response.header("content-type") == "application/problem+json");
    CHECK(client.closed_by_server(2s));
  }
  CHECK(http(server.port(), "GET", "/healthz").status == 200);
}

TEST_CASE("keep-alive serves several requests on one connection", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  HttpClient client(server.port());
  for (int i = 0; i < 5; ++i) {
    const auto response = client.request("GET", "/healthz");
    CHECK(response.status == 200);
    CHECK(response.header("connection").value_or("") != "close");
  }
}

TEST_CASE("ten pipelined requests are answered in order", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  HttpClient client(server.port());
  std::string batch;
  for (int i = 0; i < 10; ++i) {
    batch += "GET " + std::string(i % 2 == 0 ? "/healthz" : "/nope") +
             " HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-" + std::to_string(i) + "\r\n\r\n";
  }
  client.send_raw(batch);
  for (int i = 0; i < 10; ++i) {
    const auto response = client.read_response();
    CHECK(response.status == (i % 2 == 0 ? 200 : 404));
    CHECK(response.header("x-request-id") == "req-" + std::to_string(i));
  }
}

TEST_CASE("a client sending headers too slowly is cut off while others are served", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  HttpClient slow(server.port());
  slow.send_raw("GET /healthz HTTP/1.1\r\n");
  // A trickle of header bytes, never a complete header; meanwhile others are answered.
  const auto waited = time_until_cut_off(
      slow, "X", [&] { CHECK(http(server.port(), "GET", "/healthz").status == 200); });
  REQUIRE(waited.has_value());
  CHECK(*waited >= 9s);
  CHECK(*waited < 14s);
}

TEST_CASE("a body trickling in is cut off 10 s after its header", "[e2e][http]") {
  AuthdServer server(fresh_database_url());
  HttpClient slow(server.port());
  slow.send_raw(
      "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n");
  // Every read makes progress, but the body never completes.
  const auto waited = time_until_cut_off(slow, " ", [] {});
  REQUIRE(waited.has_value());
  CHECK(*waited >= 9s);
  CHECK(*waited < 14s);
}

TEST_CASE("SIGTERM lets requests in flight finish, then exits 0", "[e2e][http]") {
  // Expensive hashing makes a signup take long enough to be in flight.
  AuthdServer server(fresh_database_url(), {{"AUTHD_PBKDF2_ITERATIONS", "3000000"}});
  auto pending = std::async(std::launch::async, [&server] {
    return http(server.port(), "POST", "/api/v1/signup",
                R"({"username":"slowpoke","email":"slow@example.com","password":"long enough"})");
  });
  std::this_thread::sleep_for(200ms);
  server.process().signal(SIGTERM);
  const auto response = pending.get();
  CHECK(response.status == 201);
  CHECK(server.process().wait(12s) == 0);
  CHECK_THROWS(http(server.port(), "GET", "/healthz"));
}

TEST_CASE("SIGTERM with requests outlasting the drain cuts them and still exits 0 in time",
          "[e2e][http]") {
  // One hash thread and very expensive hashes: these signups cannot finish within the drain.
  AuthdServer server(fresh_database_url(),
                     {{"AUTHD_PBKDF2_ITERATIONS", "10000000"}, {"AUTHD_HASH_THREADS", "1"}});
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 6; ++i) {
    const std::string body = R"({"username":"cut)" + std::to_string(i) + R"(","email":"cut)" +
                             std::to_string(i) + R"(@example.com","password":"long enough"})";
    clients.push_back(std::make_unique<HttpClient>(server.port()));
    clients.back()->send_raw("POST /api/v1/signup HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  std::this_thread::sleep_for(300ms);
  const auto signalled = std::chrono::steady_clock::now();
  server.process().signal(SIGTERM);
  // Exit 0 also means the sanitizers found nothing while the cut connections were torn down.
  CHECK(server.process().wait(15s) == 0);
  CHECK(std::chrono::steady_clock::now() - signalled < 11s);
}

TEST_CASE("authd listens on IPv6", "[e2e][http]") {
  const auto port = free_port();
  auto env = base_env(fresh_database_url());
  env["AUTHD_LISTEN"] = "[::1]:" + std::to_string(port);
  Process process(AUTHD_BINARY, {"serve"}, env);
  bool answered = false;
  for (int i = 0; i < 100 && !answered; ++i) {
    std::this_thread::sleep_for(50ms);
    const auto result =
        run("/usr/bin/curl", {"-sg", "http://[::1]:" + std::to_string(port) + "/healthz"});
    answered = result.code == 0 && result.output == "ok";
  }
  CHECK(answered);
  process.signal(SIGTERM);
  CHECK(process.wait() == 0);
}

TEST_CASE("a bad setting stops start-up with exit 2 and names it", "[e2e][config]") {
  auto env = base_env(fresh_database_url(false));
  env["AUTHD_SESSION_TTL"] = "soon";
  const auto result = run(AUTHD_BINARY, {"serve"}, env);
  CHECK(result.code == 2);
  CHECK_THAT(result.output, Catch::Contains("AUTHD_SESSION_TTL"));
  env.erase("AUTHD_SESSION_TTL");
  const auto flag = run(AUTHD_BINARY, {"serve", "--io-threads", "zero"}, env);
  CHECK(flag.code == 2);
  CHECK_THAT(flag.output, Catch::Contains("AUTHD_IO_THREADS"));
  const auto missing = run(AUTHD_BINARY, {"migrate"}, {});
  CHECK(missing.code == 2);
  CHECK_THAT(missing.output, Catch::Contains("AUTHD_DATABASE_URL"));
}

TEST_CASE("--help lists every setting and --version the version", "[e2e][config]") {
  const auto help = run(AUTHD_BINARY, {"--help"});
  CHECK(help.code == 0);
  CHECK_THAT(help.output, Catch::Contains("AUTHD_DB_POOL_SIZE"));
  CHECK_THAT(help.output, Catch::Contains("--db-pool-size"));
  CHECK_THAT(help.output, Catch::Contains("backup restore"));
  const auto version = run(AUTHD_BINARY, {"--version"});
  CHECK(version.code == 0);
  CHECK_THAT(version.output, Catch::StartsWith("authd "));
}

TEST_CASE("migrate applies the schema and is idempotent", "[e2e][config]") {
  const auto url = fresh_database_url(false);
  const auto first = run(AUTHD_BINARY, {"migrate"}, base_env(url));
  CHECK(first.code == 0);
  CHECK_THAT(first.output, Catch::Contains("\"applied\":7"));
  const auto second = run(AUTHD_BINARY, {"migrate"}, base_env(url));
  CHECK(second.code == 0);
  CHECK_THAT(second.output, Catch::Contains("\"applied\":0"));
}
