#pragma once

#include <string_view>

// The portal's files, embedded at build time (server/portal/embed.cmake writes the table).
namespace authd::server::portal {

struct Asset {
  std::string_view name;          // a page ("login") or a hashed asset ("app.0123456789abcdef.js")
  std::string_view content_type;  // a literal
  std::string_view body;
  std::string_view etag;  // quoted, from the content's SHA-256
  bool immutable;         // the name carries the content's hash: cacheable for good
};

// The page or asset of that name; nullptr when there is none.
const Asset* find_asset(std::string_view name);

}  // namespace authd::server::portal
