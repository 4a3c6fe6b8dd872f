#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pqxx/row>

#include "auth/accounts.hpp"
#include "auth/error.hpp"
#include "auth/validation.hpp"
#include "db/async_db.hpp"
#include "db/statements.hpp"

// What the files of Accounts (signup, login, sessions, password_change) share: reading users
// from rows, statement parameters and the common refusals. Not for use outside auth/.
namespace authd::auth::detail {

inline constexpr std::string_view kUserRole = "user";
inline constexpr std::string_view kAdminRole = "admin";

inline std::string name(const db::sql::Statement& statement) {
  return std::string(statement.name);
}

// The six user columns (id, username, email, role, created_at, email_verified) from column first.
inline User user_from(const pqxx::row& row, pqxx::row::size_type first = 0) {
  return User{row[first].as<std::int64_t>(),    row[first + 1].as<std::string>(),
              row[first + 2].as<std::string>(), row[first + 3].as<std::string>(),
              row[first + 4].as<std::string>(), row[first + 5].as<bool>()};
}
inline User user_from(const db::Rows& rows, int row, int first = 0) {
  return User{rows.integer(row, first),    rows.string(row, first + 1),
              rows.string(row, first + 2), rows.string(row, first + 3),
              rows.string(row, first + 4), rows.boolean(row, first + 5)};
}

// A statement's text parameters. (Built by a plain function: a braced list inside a co_await
// expression trips GCC 12's coroutine code.)
template <class... Values>
std::vector<std::string> params(Values&&... values) {
  std::vector<std::string> out;
  out.reserve(sizeof...(Values));
  (out.emplace_back(std::forward<Values>(values)), ...);
  return out;
}

inline Error invalid_field(const FieldProblem& problem) {
  return {ErrorKind::invalid, problem.code, problem.detail};
}

inline Error invalid_credentials(std::string detail = "The login or the password is wrong.") {
  return {ErrorKind::unauthenticated, "invalid_credentials", std::move(detail)};
}

inline Error too_many_attempts(std::int64_t retry_after) {
  return {ErrorKind::limited, "too_many_attempts", "Too many failed logins; try again later.",
          std::max<std::int64_t>(retry_after, 1)};
}

// A password that is not UTF-8: refused by its form, before any hash.
inline Error password_not_utf8() {
  return {ErrorKind::invalid, "invalid_password", "Password must be valid UTF-8."};
}

// The key of an account's login attempts (logins, password changes, later second factors).
inline std::string login_account_key(std::optional<std::int64_t> user_id,
                                     std::string_view identifier) {
  return "login:" + account_key(user_id, identifier);
}

}  // namespace authd::auth::detail
