// Every JSON body decoder of the handlers: the body as an object (415/400 otherwise) and the
// string fields read from it, required and optional, as each route names them.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/routes/common.hpp"

using namespace authd::server;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Request request;
  request.method = "POST";
  request.path = "/api/v1/login";
  request.body.assign(reinterpret_cast<const char*>(data), size);
  if (size > 0 && data[0] % 2 == 0) {
    request.headers.emplace_back("content-type", "application/json; charset=utf-8");
  }
  try {
    const auto body = json_body(request);
    for (const char* name : {"username", "email", "password", "current_password", "new_password",
                             "token", "code", "recovery_code", "mfa_token", "new_email"}) {
      try {
        (void)string_field(body, name);
      } catch (const Refused&) {
      }
      try {
        (void)optional_string_field(body, name);
      } catch (const Refused&) {
      }
    }
  } catch (const Refused&) {
  }
  return 0;
}
