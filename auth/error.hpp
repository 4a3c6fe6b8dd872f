#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace authd::auth {

// What kind of refusal a domain function returns; server/problem.cpp alone turns it into an HTTP
// status, so nothing under auth/ knows HTTP.
enum class ErrorKind {
  invalid,          // the input breaks a rule of API.md's Data section
  conflict,         // taken: a username, an email, a second factor already enabled
  unauthenticated,  // wrong credentials, unknown or expired token
  forbidden,        // known, but not allowed (disabled account, not an admin)
  limited,          // a limit was reached: retry_after says when to try again
  not_found,
  not_configured,  // a feature whose settings are missing
};

// A refusal caused by the request itself: code is the API's error code, detail a sentence safe
// to show (it never repeats a password or token), retry_after in seconds (limited only).
struct Error {
  ErrorKind kind;
  std::string code;
  std::string detail;
  std::int64_t retry_after = 0;
};

// A domain result: the value, or the refusal. Infrastructure failures are exceptions.
template <class T>
using Result = std::variant<T, Error>;

}  // namespace authd::auth
