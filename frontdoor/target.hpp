#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "frontdoor/rules.hpp"

// The request a proxy asks about, from the headers it describes it with (API.md, the front
// door): nginx's X-Original-Method and X-Original-URL, or the X-Forwarded-Method, -Proto,
// -Host and -Uri of Traefik, Caddy and HAProxy.
namespace authd::frontdoor {

struct Original {
  Target target;    // as the rules see it
  std::string url;  // scheme://host[:port]/path?query, as the client asked for it
};

// nullopt when the headers do not describe a request: missing, not an absolute http(s) URL, a
// path normalize_path refuses.
std::optional<Original> from_original_url(std::string_view method, std::string_view url);
std::optional<Original> from_forwarded(std::string_view method, std::string_view proto,
                                       std::string_view host, std::string_view uri);

}  // namespace authd::frontdoor
