#include "auth/user.hpp"

namespace authd::auth {

boost::json::object user_object(const User& user) {
  return {{"id", user.id},
          {"username", user.username},
          {"email", user.email},
          {"role", user.role},
          {"created_at", user.created_at},
          {"email_verified", user.email_verified},
          {"disabled", user.disabled}};
}

}  // namespace authd::auth
