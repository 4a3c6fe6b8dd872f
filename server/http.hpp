#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Plain request and response values: handlers never see Beast types, so most of server/
// compiles without Beast's headers.
namespace authd::server {

struct Request {
  std::string method;
  std::string path;   // without the query string, still percent-encoded
  std::string query;  // after the '?', still percent-encoded; empty without one
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::array<unsigned char, 16> peer{};  // IPv4 mapped into IPv6
  std::string peer_text;
  bool tls = false;
  std::string request_id;
  // True once the client has closed its side: work not yet started (a hash) may be skipped.
  // Set by the connection; safe to call from any thread while the request is being handled.
  std::function<bool()> client_gone = [] { return false; };

  std::optional<std::string_view> header(std::string_view lower_name) const;
};

// A file streamed as the body (backups): never read whole into memory.
struct FileBody {
  std::string path;
  std::string download_name;
};

struct Response {
  int status = 200;
  std::string_view content_type = "application/json";  // always a literal
  std::vector<std::pair<std::string, std::string>> headers;
  // Header lines already serialised ("Name: value\r\n" each), sent after headers as they are.
  std::shared_ptr<const std::string> raw_headers;
  std::string body;
  std::optional<FileBody> file;
  bool close = false;  // close the connection after this response
};

Response json_response(int status, std::string body);
Response text_response(int status, std::string body);

}  // namespace authd::server
