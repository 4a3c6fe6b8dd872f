#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json/parse.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "tests/support/http_client.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

// API.md, "Mail": every flow through a real SMTP server (aiosmtpd), by reading the delivered mail
// and following its link; the outbox across SMTP and authd restarts and two instances.
using namespace authd::test;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// aiosmtpd on a free port, each accepted mail a file in dir.
class SmtpSink {
 public:
  explicit SmtpSink(const std::string& dir, unsigned short port = 0)
      : dir_(dir), port_(port ? port : free_port()) {
    start();
  }
  void start() {
    process_ = std::make_unique<Process>(
        "/usr/bin/python3",
        std::vector<std::string>{std::string(AUTHD_SOURCE_DIR) + "/tests/scripts/smtp_sink.py",
                                 std::to_string(port_), dir_},
        std::map<std::string, std::string>{});
    for (int i = 0; i < 200; ++i) {
      if (process_->output().find("listening") != std::string::npos) return;
      std::this_thread::sleep_for(25ms);
    }
    FAIL("the SMTP server did not start: " << process_->output());
  }
  void stop() {
    process_->signal(SIGTERM);
    process_->wait();
  }
  unsigned short port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  // Every delivered mail's text, in order.
  std::vector<std::string> mails() const {
    std::vector<std::string> paths;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().extension() == ".eml") paths.push_back(entry.path());
    }
    std::sort(paths.begin(), paths.end());
    std::vector<std::string> out;
    for (const auto& p : paths) {
      std::ifstream in(p);
      std::stringstream text;
      text << in.rdbuf();
      out.push_back(text.str());
    }
    return out;
  }
  // Waits until count mails have arrived.
  std::vector<std::string> await(std::size_t count, std::chrono::milliseconds limit = 15s) const {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < give_up) {
      auto all = mails();
      if (all.size() >= count) return all;
      std::this_thread::sleep_for(20ms);
    }
    return mails();
  }

 private:
  std::string dir_;
  unsigned short port_;
  std::unique_ptr<Process> process_;
};

std::map<std::string, std::string> mail_env(const SmtpSink& smtp) {
  return {{"AUTHD_SMTP_URL", smtp.url()},
          {"AUTHD_PUBLIC_URL", "https://auth.example.com"},
          {"AUTHD_MAIL_FROM", "authd@example.com"}};
}

// The token of the first link to path in a mail.
std::string token_in(const std::string& mail, const std::string& path) {
  const std::string marker = "https://auth.example.com" + path + "?token=";
  const auto at = mail.find(marker);
  REQUIRE(at != std::string::npos);
  const auto start = at + marker.size();
  return mail.substr(start, mail.find_first_of("\r\n", start) - start);
}

void sign_up(unsigned short port, const std::string& name) {
  REQUIRE(http(port, "POST", "/api/v1/signup",
               R"({"username":")" + name + R"(","email":")" + name +
                   R"(@example.com","password":"correct horse"})")
              .status == 201);
}

std::string log_in(unsigned short port, const std::string& name,
                   const std::string& password = "correct horse") {
  const auto r = http(port, "POST", "/api/v1/login",
                      R"({"username":")" + name + R"(","password":")" + password + R"("})");
  REQUIRE(r.status == 200);
  return std::string(json::parse(r.body).at("token").as_string());
}

json::object me(unsigned short port, const std::string& token) {
  return json::parse(
             http(port, "GET", "/api/v1/me", "", {{"Authorization", "Bearer " + token}}).body)
      .as_object();
}

}  // namespace

TEST_CASE("sign-up sends a verification mail whose link verifies the address", "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  AuthdServer server(fresh_database_url(), mail_env(smtp));
  const auto port = server.port();
  sign_up(port, "ann");
  const auto mails = smtp.await(1);
  REQUIRE(mails.size() == 1);
  const std::string& mail = mails[0];
  CHECK_THAT(mail, Catch::Contains("X-Envelope-To: ann@example.com"));
  CHECK_THAT(mail, Catch::Contains("Subject: Confirm your email address"));
  CHECK_THAT(mail, Catch::Contains("Message-ID: <") && Catch::Contains("@example.com>"));
  CHECK_THAT(mail, Catch::Contains("ignore this mail"));
  CHECK(mail.find("correct horse") == std::string::npos);
  const std::string token = log_in(port, "ann");
  CHECK_FALSE(me(port, token).at("user").at("email_verified").as_bool());

  const std::string link = token_in(mail, "/verify");
  CHECK(http(port, "POST", "/api/v1/email/verify", R"({"token":")" + link + R"("})").status == 204);
  CHECK(me(port, token).at("user").at("email_verified").as_bool());
  // Single use.
  const auto again = http(port, "POST", "/api/v1/email/verify", R"({"token":")" + link + R"("})");
  CHECK(again.status == 400);
  CHECK_THAT(again.body, Catch::Contains("invalid_token"));
  CHECK(http(port, "POST", "/api/v1/email/verify", R"({"token":"nonsense"})").status == 400);
}

TEST_CASE("recovery: a link for a known address, nothing for an unknown one, the same answer",
          "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  AuthdServer server(fresh_database_url(), mail_env(smtp));
  const auto port = server.port();
  sign_up(port, "bob");
  smtp.await(1);  // the verification
  const std::string old_session = log_in(port, "bob");

  const auto unknown = http(port, "POST", "/api/v1/recovery", R"({"email":"nobody@example.com"})");
  const auto known = http(port, "POST", "/api/v1/recovery", R"({"email":"BOB@example.com"})");
  CHECK(unknown.status == 202);
  CHECK(known.status == 202);
  CHECK(unknown.body == known.body);
  const auto mails = smtp.await(2);
  REQUIRE(mails.size() == 2);
  std::this_thread::sleep_for(500ms);
  CHECK(smtp.mails().size() == 2);  // nothing went to the unknown address
  CHECK_THAT(mails[1], Catch::Contains("X-Envelope-To: bob@example.com"));
  const std::string token = token_in(mails[1], "/reset");

  CHECK(http(port, "POST", "/api/v1/recovery/complete",
             R"({"token":")" + token + R"(","new_password":"short"})")
            .status == 400);
  CHECK(http(port, "POST", "/api/v1/recovery/complete",
             R"({"token":")" + token + R"(","new_password":"brand new horse"})")
            .status == 204);
  CHECK(http(port, "POST", "/api/v1/recovery/complete",
             R"({"token":")" + token + R"(","new_password":"another new horse"})")
            .status == 400);
  CHECK(http(port, "GET", "/api/v1/me", "", {{"Authorization", "Bearer " + old_session}}).status ==
        401);
  log_in(port, "bob", "brand new horse");
  CHECK(http(port, "POST", "/api/v1/login", R"({"username":"bob","password":"correct horse"})")
            .status == 401);
}

TEST_CASE("recovery requests are limited per address", "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  AuthdServer server(fresh_database_url(), mail_env(smtp));
  const auto port = server.port();
  for (int i = 0; i < 5; ++i) {
    CHECK(http(port, "POST", "/api/v1/recovery", R"({"email":"x@example.com"})").status == 202);
  }
  const auto sixth = http(port, "POST", "/api/v1/recovery", R"({"email":"x@example.com"})");
  CHECK(sixth.status == 429);
  CHECK(sixth.header("retry-after"));
}

TEST_CASE("an email change is confirmed by the new address, with a notice to the old",
          "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  AuthdServer server(fresh_database_url(), mail_env(smtp));
  const auto port = server.port();
  sign_up(port, "cyd");
  sign_up(port, "dee");
  smtp.await(2);
  const std::string token = log_in(port, "cyd");
  const Headers bearer{{"Authorization", "Bearer " + token}};
  CHECK(http(port, "POST", "/api/v1/email",
             R"({"password":"correct horse","new_email":"dee@example.com"})", bearer)
            .status == 409);
  CHECK(http(port, "POST", "/api/v1/email",
             R"({"password":"wrong horse","new_email":"cyd2@example.com"})", bearer)
            .status == 401);
  CHECK(http(port, "POST", "/api/v1/email",
             R"({"password":"correct horse","new_email":"cyd2@example.com"})", bearer)
            .status == 202);
  const auto mails = smtp.await(4);
  REQUIRE(mails.size() == 4);
  const std::string* confirm = nullptr;
  const std::string* notice = nullptr;
  for (const auto& m : mails) {
    if (m.find("X-Envelope-To: cyd2@example.com") != std::string::npos) confirm = &m;
    if (m.find("X-Envelope-To: cyd@example.com") != std::string::npos &&
        m.find("being changed") != std::string::npos) {
      notice = &m;
    }
  }
  REQUIRE(confirm);
  REQUIRE(notice);
  CHECK(notice->find("?token=") == std::string::npos);
  CHECK(me(port, token).at("user").at("email").as_string() == "cyd@example.com");
  CHECK(http(port, "POST", "/api/v1/email/verify",
             R"({"token":")" + token_in(*confirm, "/verify") + R"("})")
            .status == 204);
  const auto now = me(port, token).at("user");
  CHECK(now.at("email").as_string() == "cyd2@example.com");
  CHECK(now.at("email_verified").as_bool());
}

TEST_CASE("AUTHD_REQUIRE_VERIFIED_EMAIL refuses unverified users after the right password",
          "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  auto env = mail_env(smtp);
  env["AUTHD_REQUIRE_VERIFIED_EMAIL"] = "on";
  AuthdServer server(fresh_database_url(), env);
  const auto port = server.port();
  sign_up(port, "eve");
  CHECK(http(port, "POST", "/api/v1/login", R"({"username":"eve","password":"wrong horse"})")
            .status == 401);
  const auto refused =
      http(port, "POST", "/api/v1/login", R"({"username":"eve","password":"correct horse"})");
  CHECK(refused.status == 403);
  CHECK_THAT(refused.body, Catch::Contains("email_not_verified"));
  const auto mails = smtp.await(1);
  REQUIRE(mails.size() == 1);
  REQUIRE(http(port, "POST", "/api/v1/email/verify",
               R"({"token":")" + token_in(mails[0], "/verify") + R"("})")
              .status == 204);
  log_in(port, "eve");
}

TEST_CASE("without AUTHD_SMTP_URL recovery answers 503 not_configured", "[e2e][mail]") {
  AuthdServer server(fresh_database_url());
  const auto r = http(server.port(), "POST", "/api/v1/recovery", R"({"email":"a@example.com"})");
  CHECK(r.status == 503);
  CHECK_THAT(r.body, Catch::Contains("not_configured"));
}

TEST_CASE("mail queued while the SMTP server is down is delivered once it is up, exactly once",
          "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  smtp.stop();
  AuthdServer server(fresh_database_url(), mail_env(smtp));
  for (const char* name : {"fay", "gus", "hal"}) sign_up(server.port(), name);
  std::this_thread::sleep_for(1500ms);  // tries fail meanwhile
  smtp.start();
  const auto mails = smtp.await(3, 20s);
  CHECK(mails.size() == 3);
  std::this_thread::sleep_for(1s);
  CHECK(smtp.mails().size() == 3);
}

TEST_CASE("mail queued when authd stops is delivered by the next start, once", "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  smtp.stop();
  const std::string url = fresh_database_url();
  {
    AuthdServer first(url, mail_env(smtp));
    sign_up(first.port(), "ida");
    sign_up(first.port(), "jon");
  }
  smtp.start();
  AuthdServer second(url, mail_env(smtp));
  CHECK(smtp.await(2, 20s).size() == 2);
  std::this_thread::sleep_for(1s);
  CHECK(smtp.mails().size() == 2);
}

TEST_CASE("two instances sharing the outbox never send a mail twice", "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  smtp.stop();
  const std::string url = fresh_database_url();
  AuthdServer a(url, mail_env(smtp));
  AuthdServer b(url, mail_env(smtp));
  for (int i = 0; i < 30; ++i) sign_up(i % 2 ? a.port() : b.port(), "user" + std::to_string(i));
  smtp.start();
  const auto mails = smtp.await(30, 30s);
  std::this_thread::sleep_for(1500ms);
  const auto all = smtp.mails();
  CHECK(all.size() == 30);
  std::set<std::string> ids;
  for (const auto& m : all) {
    const auto at = m.find("Message-ID: ");
    REQUIRE(at != std::string::npos);
    ids.insert(m.substr(at, m.find('\r', at) - at));
  }
  CHECK(ids.size() == all.size());
}

TEST_CASE("an expired link is refused like a used one", "[e2e][mail]") {
  TempDir box;
  SmtpSink smtp(box.path());
  const std::string url = fresh_database_url();
  AuthdServer server(url, mail_env(smtp));
  const auto port = server.port();
  sign_up(port, "kim");
  REQUIRE(http(port, "POST", "/api/v1/recovery", R"({"email":"kim@example.com"})").status == 202);
  const auto mails = smtp.await(2);
  REQUIRE(mails.size() == 2);
  {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec("UPDATE email_tokens SET expires_at = now() - interval '1 second'");
  }
  const auto verify = http(port, "POST", "/api/v1/email/verify",
                           R"({"token":")" + token_in(mails[0], "/verify") + R"("})");
  CHECK(verify.status == 400);
  const auto reset = http(
      port, "POST", "/api/v1/recovery/complete",
      R"({"token":")" + token_in(mails[1], "/reset") + R"(","new_password":"brand new horse"})");
  CHECK(reset.status == 400);
  CHECK_THAT(reset.body, Catch::Contains("invalid_token"));
}
