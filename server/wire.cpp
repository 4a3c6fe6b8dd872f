#include "server/wire.hpp"

#include <boost/beast/http/status.hpp>

#include <charconv>
#include <ctime>

namespace authd::server {

std::string_view reason_phrase(int status) {
  if (status < 100 || status > 999) return {};
  const auto phrase =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  // Beast names codes it does not know "<unknown-status>".
  return phrase.starts_with('<') ? std::string_view()
                                 : std::string_view(phrase.data(), phrase.size());
}

std::string_view http_date() {
  thread_local std::time_t cached_second = -1;
  thread_local char text[32];
  thread_local std::size_t length = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    length = std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cached_second = now;
  }
  return {text, length};
}

namespace {

void append_number(std::string& out, std::size_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

// 1xx, 204 and 304 answers carry no body, so no length and no type.
bool bodiless(int status) {
  return status < 200 || status == 204 || status == 304;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

void append_head(std::string& out, const Response& response, const WireHead& head,
                 std::size_t content_length, std::string_view extra_header) {
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<std::size_t>(response.status));
  out.push_back(' ');
  out.append(reason_phrase(response.status));
  out.append("\r\n");
  append_field(out, "Date", http_date());
  if (!bodiless(response.status) && !response.content_type.empty()) {
    append_field(out, "Content-Type", response.content_type);
  }
  for (const auto& [name, value] : response.headers) append_field(out, name, value);
  if (response.raw_headers) out.append(*response.raw_headers);
  if (!head.request_id.empty()) append_field(out, "X-Request-Id", head.request_id);
  if (!extra_header.empty()) {
    out.append(extra_header);
    out.append("\r\n");
  }
  if (!bodiless(response.status)) {
    out.append("Content-Length: ");
    append_number(out, content_length);
    out.append("\r\n");
  }
  if (head.close) {
    out.append("Connection: close\r\n");
  } else if (head.http10_keep) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

void append_response(std::string& out, const Response& response, const WireHead& head) {
  const bool body = !bodiless(response.status);
  append_head(out, response, head, body ? response.body.size() : 0);
  if (body && !head.head_only) out.append(response.body);
}

}  // namespace authd::server
