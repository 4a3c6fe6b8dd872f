#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>

#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"

using namespace authd::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kAdminToken = "test-admin-token-0123456789abcdef0123456789";

// count header fields of size bytes each ("X-Fill-N: aaa…\r\n").
std::vector<std::string> header_lines(int count, std::size_t size) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) {
    std::string line = "X-Fill-" + std::to_string(i) + ": ";
    line += std::string(size - line.size() - 2, 'a') + "\r\n";
    lines.push_back(line);
  }
  return lines;
}

// Sends a GET /healthz with the given header lines, all in one write or one write per line.
int status_with_headers(unsigned short port, const std::vector<std::string>& lines,
                        bool line_by_line) {
  HttpClient client(port);
  const std::string start = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  if (line_by_line) {
    client.send_raw(start);
    for (const auto& line : lines) {
      std::this_thread::sleep_for(5ms);
      try {
        client.send_raw(line);
      } catch (const std::exception&) {
        break;  // refused before the end: the answer is waiting
      }
    }
    try {
      client.send_raw("\r\n");
    } catch (const std::exception&) {
    }
  } else {
    std::string all = start;
    for (const auto& line : lines) all += line;
    client.send_raw(all + "\r\n");
  }
  return client.read_response().status;
}

std::size_t open_descriptors(pid_t pid) {
  std::size_t count = 0;
  DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  REQUIRE(dir != nullptr);
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

// A connection that has been served once, so the server surely counts it.
std::unique_ptr<HttpClient> served_connection(unsigned short port) {
  const auto give_up = Clock::now() + 5s;
  for (;;) {
    auto client = std::make_unique<HttpClient>(port);
    try {
      if (client->request("GET", "/healthz").status == 200) return client;
    } catch (const std::exception&) {
      // Refused at the cap while an earlier connection is still being closed.
    }
    if (Clock::now() > give_up) return nullptr;
    std::this_thread::sleep_for(100ms);
  }
}

}  // namespace

TEST_CASE("the 8 KiB counts the request line and all headers together", "[e2e][http][limits]") {
  AuthdServer server(fresh_database_url());
  // Nine fields of 1 KB: each small, 9.1 KB together.
  const auto nine = header_lines(9, 1000);
  CHECK(status_with_headers(server.port(), nine, false) == 431);
  CHECK(status_with_headers(server.port(), nine, true) == 431);
  // Many small fields: 9 KB in lines of 100 bytes.
  CHECK(status_with_headers(server.port(), header_lines(90, 100), true) == 431);
  // 7 KB of headers, however sent, are fine.
  const auto seven = header_lines(7, 1000);
  CHECK(status_with_headers(server.port(), seven, false) == 200);
  CHECK(status_with_headers(server.port(), seven, true) == 200);
  // The limit applies to each request of a keep-alive connection on its own.
  HttpClient client(server.port());
  for (int i = 0; i < 3; ++i) {
    std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    for (const auto& line : seven) request += line;
    client.send_raw(request + "\r\n");
    CHECK(client.read_response().status == 200);
  }
}

TEST_CASE(
    "a connection that sends nothing is closed after 10 s, an idle one after a request is not",
    "[e2e][http][limits]") {
  AuthdServer server(fresh_database_url());
  HttpClient silent(server.port());
  HttpClient kept(server.port());
  REQUIRE(kept.request("GET", "/healthz").status == 200);
  const auto opened = Clock::now();
  REQUIRE(silent.closed_by_server(14s));
  const auto waited = Clock::now() - opened;
  CHECK(waited >= 9s);
  CHECK(waited < 12s);
  // The keep-alive connection has its 60 s: still open and served.
  CHECK(kept.request("GET", "/healthz").status == 200);
}

TEST_CASE("at AUTHD_MAX_CONNECTIONS new connections are closed at once", "[e2e][http][limits]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_MAX_CONNECTIONS", "3"}});
  std::vector<std::unique_ptr<HttpClient>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(served_connection(server.port()));
    REQUIRE(open.back() != nullptr);
  }
  HttpClient fourth(server.port());
  CHECK(fourth.closed_by_server(2s));
  for (auto& client : open) CHECK(client->request("GET", "/healthz").status == 200);
  // Room again once one has gone.
  open.pop_back();
  CHECK(served_connection(server.port()) != nullptr);
  CHECK(server.process().running());
}

TEST_CASE("out of descriptors, authd serves its connections and accepts again later",
          "[e2e][http][limits]") {
  constexpr unsigned long kLimit = 96;
  AuthdServer server(fresh_database_url(), {}, ProcessLimits{kLimit});
  // Connections until one is not answered: its accept is waiting for a descriptor.
  std::vector<std::unique_ptr<HttpClient>> served;
  std::vector<std::unique_ptr<HttpClient>> waiting;
  for (unsigned long i = 0; i < kLimit && waiting.empty(); ++i) {
    auto client = std::make_unique<HttpClient>(server.port());
    client->send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    int status = 0;
    try {
      status = client->read_response(1s).status;
    } catch (const std::exception&) {
      // Not accepted within the second.
    }
    if (status == 0) {
      waiting.push_back(std::move(client));
    } else {
      CHECK(status == 200);
      served.push_back(std::move(client));
    }
  }
  REQUIRE(waiting.size() == 1);
  INFO("served " << served.size() << ", authd holds " << open_descriptors(server.process().pid())
                 << " descriptors");
  for (int i = 0; i < 2; ++i) {
    waiting.push_back(std::make_unique<HttpClient>(server.port()));
    waiting.back()->send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  std::this_thread::sleep_for(1500ms);
  CHECK(server.process().running());
  for (std::size_t i = 0; i < served.size(); i += 10) {
    CHECK(served[i]->request("GET", "/healthz").status == 200);
  }
  CHECK_THAT(server.process().output(), Catch::Contains("cannot accept"));
  // Descriptors free again: the waiting connections are accepted and answered.
  served.resize(served.size() - 5);
  for (auto& client : waiting) CHECK(client->read_response(5s).status == 200);
  CHECK(served_connection(server.port()) != nullptr);
  CHECK_THAT(server.process().output(), Catch::Contains("accepting connections again"));
  CHECK(server.stop() == 0);
}

TEST_CASE("HEAD answers GET's status and headers without the body", "[e2e][http][head]") {
  AuthdServer server(fresh_database_url(), {{"AUTHD_ADMIN_TOKEN", kAdminToken}});
  HttpClient client(server.port());
  const auto get = client.request("GET", "/healthz");
  const auto head = client.request("HEAD", "/healthz");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(get.body.size()));
  CHECK(head.header("content-type") == get.header("content-type"));
  // Had a body been sent, this answer would not parse as the next one.
  const auto after = client.request("GET", "/healthz");
  CHECK(after.status == 200);
  CHECK(after.body == "ok");

  const auto missing = client.request("HEAD", "/no/such/thing");
  CHECK(missing.status == 404);
  CHECK(missing.header("content-type") == "application/problem+json");
  const auto wrong = client.request("HEAD", "/api/v1/login");
  CHECK(wrong.status == 405);
  CHECK(client.request("GET", "/healthz").body == "ok");

  // A file body: its length in the head, none of its bytes.
  const std::vector<std::pair<std::string, std::string>> token = {
      {"Authorization", std::string("Bearer ") + kAdminToken}};
  REQUIRE(client.request("POST", "/api/v1/admin/backups", "", token).status == 201);
  const auto file = client.request("GET", "/api/v1/admin/backups/latest", "", token);
  REQUIRE(file.status == 200);
  const auto file_head = client.request("HEAD", "/api/v1/admin/backups/latest", "", token);
  CHECK(file_head.status == 200);
  CHECK(file_head.header("content-length") == std::to_string(file.body.size()));
  CHECK(file_head.header("content-disposition") == file.header("content-disposition"));
  CHECK(client.request("GET", "/healthz").body == "ok");
  std::this_thread::sleep_for(200ms);  // request lines are written in batches
  CHECK_THAT(server.process().output(), Catch::Contains("HEAD"));
}

TEST_CASE("a second SIGTERM during the drain exits at once with code 1", "[e2e][http][limits]") {
  // Expensive hashing keeps a sign-up in flight, so the drain waits for it.
  AuthdServer server(fresh_database_url(),
                     {{"AUTHD_PBKDF2_ITERATIONS", "5000000"}, {"AUTHD_HASH_THREADS", "1"}});
  HttpClient slow(server.port());
  const std::string body =
      R"({"username":"slowpoke","email":"slow@example.com","password":"long enough"})";
  slow.send_raw("POST /api/v1/signup HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
  std::this_thread::sleep_for(300ms);
  server.process().signal(SIGTERM);
  std::this_thread::sleep_for(300ms);
  REQUIRE(server.process().running());  // still draining
  server.process().signal(SIGTERM);
  CHECK(server.process().wait(3s) == 1);
  CHECK_THAT(server.process().output(), Catch::Contains("second signal"));
}
