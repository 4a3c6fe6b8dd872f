#pragma once

#include <cstdint>
#include <string_view>

#include "auth/error.hpp"
#include "server/http.hpp"

namespace authd::server {

// The one place an error becomes HTTP: application/problem+json with status, code, title and
// detail. retry_after > 0 adds Retry-After.
Response problem(int status, std::string_view code, std::string_view detail,
                 std::int64_t retry_after = 0);

// A domain refusal: its kind decides the status (invalid 400, unauthenticated 401, forbidden
// 403, not_found 404, conflict 409, limited 429 + Retry-After, not_configured 503).
Response problem_from_error(const auth::Error& error);

// Maps an exception escaping a handler: infrastructure failures → 503 with Retry-After,
// anything else → 500 (logged by the caller without the request's data).
Response problem_from_exception(std::exception_ptr error);

}  // namespace authd::server
