// Bytes as a client sends them: Beast's request parser with the limits and the eager switch of
// server/connection.cpp, fed in two pieces split where the first byte says (a request arrives in
// packets), then what the connection and the handlers read from a parsed request: the router,
// the session token from the cookie or Authorization, the Bearer credential, query parameters.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "auth/validation.hpp"
#include "server/router.hpp"
#include "server/routes.hpp"
#include "server/routes/common.hpp"

namespace http = boost::beast::http;
using namespace authd::server;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Router router = make_router(true);
  if (size == 0) return 0;
  const std::size_t split = data[0] % (size);
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(16 * 1024);
  parser.eager(false);
  std::string pending;
  for (const std::string_view piece : {bytes.substr(0, split), bytes.substr(split)}) {
    pending.append(piece);
    // Like the connection, never put() nothing: Beast steps from the buffer's pointer, null for
    // an empty one (UBSan's first finding here, in the harness, not in authd).
    while (!pending.empty()) {
      boost::beast::error_code ec;
      const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec && ec != http::error::need_more) return 0;  // a 400, 413 or 431 and the end
      if (parser.is_header_done()) parser.eager(true);
      if (parser.is_done() || used == 0) break;
    }
  }
  if (!parser.is_done()) return 0;
  auto& message = parser.get();
  Request request;
  request.method = std::string(message.method_string());
  const std::string_view target = message.target();
  const std::size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
  for (const auto& field : message) {
    request.headers.emplace_back(authd::auth::ascii_lower(field.name_string()),
                                 std::string(field.value()));
  }
  request.body = message.body();
  (void)router.match(request.method, request.path);
  (void)session_token(request);
  (void)bearer_token(request);
  try {
    (void)query_param(request, "query");
    (void)query_param(request, "rd");
  } catch (const Refused&) {
  }
  return 0;
}
