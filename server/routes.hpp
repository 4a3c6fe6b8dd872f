#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "server/app.hpp"
#include "server/http.hpp"

namespace authd::server {

// Route names by id, as metrics and logs show them.
std::vector<std::string_view> route_names();

// The routes of API.md; the legacy GET routes only when enabled.
Router make_router(bool legacy_routes);

struct Handled {
  Response response;
  std::size_t route;      // index into route_names(), or its size when nothing matched
  std::string_view name;  // for the log line: never the raw path
};

// Routes the request, runs its handler and turns every failure into problem+json.
boost::asio::awaitable<Handled> handle_request(App& app, const Request& request);

}  // namespace authd::server
