#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace authd::test {

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::optional<std::string> header(const std::string& lower_name) const;
};

// A blocking HTTP/1.1 client over a plain socket, so tests control every byte sent.
class HttpClient {
 public:
  explicit HttpClient(unsigned short port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void send_raw(const std::string& bytes);
  // Shuts down the sending side: the server sees the end of the stream.
  void finish_sending();
  // Reads one response (Content-Length or chunked bodies); throws on timeout or EOF. The answer
  // to HEAD (head_only) has a Content-Length but no body.
  HttpResponse read_response(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                             bool head_only = false);
  // True when the server closed the connection (EOF) within the timeout.
  bool closed_by_server(std::chrono::milliseconds timeout);

  HttpResponse request(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  int fd_ = -1;
  std::string buffer_;
  bool fill(std::chrono::steady_clock::time_point deadline);
};

// One request on a fresh connection.
HttpResponse http(unsigned short port, const std::string& method, const std::string& target,
                  const std::string& body = "",
                  const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace authd::test
