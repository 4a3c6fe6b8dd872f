#include <catch2/catch.hpp>

#include "server/wire.hpp"

using namespace authd::server;

namespace {

// The head without its Date line, which changes every second.
std::string without_date(std::string text) {
  const auto start = text.find("Date: ");
  REQUIRE(start != std::string::npos);
  text.erase(start, text.find("\r\n", start) + 2 - start);
  return text;
}

}  // namespace

TEST_CASE("a response is a status line, its headers, its length and its body", "[wire]") {
  Response response = json_response(201, R"({"ok":true})");
  response.headers.emplace_back("Set-Cookie", "a=b");
  std::string out;
  append_response(out, response, WireHead{"req-1"});
  CHECK(without_date(out) ==
        "HTTP/1.1 201 Created\r\n"
        "Content-Type: application/json\r\n"
        "Set-Cookie: a=b\r\n"
        "X-Request-Id: req-1\r\n"
        "Content-Length: 11\r\n"
        "\r\n"
        R"({"ok":true})");
}

TEST_CASE("204 carries neither a length nor a type nor a body", "[wire]") {
  Response response;
  response.status = 204;
  response.body = "ignored";
  std::string out;
  append_response(out, response, WireHead{"r"});
  CHECK(without_date(out) == "HTTP/1.1 204 No Content\r\nX-Request-Id: r\r\n\r\n");
}

TEST_CASE("closing and HTTP/1.0 keep-alive are said in a Connection header", "[wire]") {
  const Response response = text_response(200, "ok");
  std::string closing;
  append_response(closing, response, WireHead{"r", true});
  CHECK(closing.find("Connection: close\r\n") != std::string::npos);
  std::string kept;
  append_response(kept, response, WireHead{"r", false, true});
  CHECK(kept.find("Connection: keep-alive\r\n") != std::string::npos);
  std::string plain;
  append_response(plain, response, WireHead{"r"});
  CHECK(plain.find("Connection:") == std::string::npos);
}

TEST_CASE("pipelined answers append one after another", "[wire]") {
  std::string out;
  append_response(out, text_response(200, "one"), WireHead{"1"});
  append_response(out, text_response(404, "two"), WireHead{"2"});
  const auto second = out.find("HTTP/1.1 404 Not Found\r\n");
  REQUIRE(second != std::string::npos);
  CHECK(out.substr(second - 3, 3) == "one");
  CHECK(out.ends_with("\r\n\r\ntwo"));
}

TEST_CASE("a file's head gives its size and the extra header", "[wire]") {
  Response response;
  response.content_type = "text/csv; charset=utf-8";
  std::string out;
  append_head(out, response, WireHead{"r"}, 123456,
              "Content-Disposition: attachment; filename=\"b.csv\"");
  CHECK(out.find("Content-Length: 123456\r\n") != std::string::npos);
  CHECK(out.find("Content-Disposition: attachment; filename=\"b.csv\"\r\n") != std::string::npos);
  CHECK(out.ends_with("\r\n\r\n"));
}

TEST_CASE("reason phrases", "[wire]") {
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(405) == "Method Not Allowed");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(299).empty());
}

TEST_CASE("the HTTP date has the IMF-fixdate shape", "[wire]") {
  const auto date = http_date();
  REQUIRE(date.size() == 29);
  CHECK(date.substr(3, 2) == ", ");
  CHECK(date.ends_with(" GMT"));
}

TEST_CASE("the answer to HEAD has GET's head, its Content-Length included, and no body", "[wire]") {
  const Response response = json_response(200, R"({"ok":true})");
  std::string get;
  append_response(get, response, WireHead{"r"});
  std::string head;
  append_response(head, response, WireHead{"r", false, false, true});
  CHECK(head.find("Content-Length: 11\r\n") != std::string::npos);
  CHECK(head.ends_with("\r\n\r\n"));
  CHECK(without_date(get) == without_date(head) + R"({"ok":true})");
}
