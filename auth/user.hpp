#pragma once

#include <cstdint>
#include <string>

#include <boost/json/object.hpp>

namespace authd::auth {

// A user as the API shows it; created_at is RFC 3339 UTC text made by PostgreSQL.
struct User {
  std::int64_t id = 0;
  std::string username, email, role, created_at;
  bool email_verified = false;
  bool disabled = false;  // by an admin: no login, no sessions
};

// A valid session: its user, its end (RFC 3339 UTC) and its token's SHA-256 in hex.
struct Session {
  User user;
  std::string expires_at;
  std::string token_hash_hex;
  std::string aal = "aal1";  // "aal2" once a second factor was shown for this session
  bool two_factor = false;   // the user has a second factor
};

// The user as every answer of the API shows it.
boost::json::object user_object(const User& user);

}  // namespace authd::auth
