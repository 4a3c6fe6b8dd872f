#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace authd::test;
using namespace std::chrono_literals;

namespace {

// A private PostgreSQL cluster this test may stop and start (scripts/pg).
class PrivateCluster {
 public:
  PrivateCluster() {
    dir_ = make_temp_dir("authd-test-cluster-");
    url_ = last_line(pg({"start", dir_}));
  }
  ~PrivateCluster() { run(script(), {"stop", "--remove", dir_}); }
  const std::string& url() const { return url_; }
  void stop() { pg({"stop", dir_}); }
  void start() { pg({"start", dir_}); }

 private:
  static std::string script() { return std::string(AUTHD_SOURCE_DIR) + "/scripts/pg"; }
  static std::string pg(const std::vector<std::string>& args) {
    const auto result = run(script(), args);
    if (result.code != 0) throw std::runtime_error("scripts/pg failed: " + result.output);
    return result.output;
  }
  static std::string last_line(std::string text) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text.substr(text.rfind('\n') + 1);
  }
  std::string dir_;
  std::string url_;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("a restarted PostgreSQL is reconnected without restarting authd", "[e2e][db]") {
  PrivateCluster cluster;
  AuthdServer server(cluster.url());
  const auto port = server.port();
  const std::string user =
      R"({"username":"rita","email":"rita@ex.com","password":"correct horse"})";
  REQUIRE(http(port, "POST", "/api/v1/signup", user).status == 201);

  cluster.stop();
  auto started = std::chrono::steady_clock::now();
  CHECK(http(port, "GET", "/readyz").status == 503);
  CHECK(seconds_since(started) < 1.5);
  started = std::chrono::steady_clock::now();
  const auto down =
      http(port, "POST", "/api/v1/login", R"({"username":"rita","password":"correct horse"})");
  CHECK(down.status == 503);
  CHECK_THAT(down.body, Catch::Contains("database_unavailable"));
  CHECK(down.header("retry-after"));
  CHECK(seconds_since(started) < 3);
  CHECK(http(port, "GET", "/healthz").status == 200);

  cluster.start();
  bool ready = false;
  for (int i = 0; i < 100 && !ready; ++i) {
    ready = http(port, "GET", "/readyz").status == 200;
    if (!ready) std::this_thread::sleep_for(100ms);
  }
  CHECK(ready);
  CHECK(http(port, "POST", "/api/v1/login", R"({"username":"rita","password":"correct horse"})")
            .status == 200);
  CHECK(server.stop() == 0);
}
