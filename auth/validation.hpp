#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace authd::auth {

// Why a field was refused: code is the API's error code, detail a sentence safe to show the
// client (it never repeats the value).
struct FieldProblem {
  std::string code;
  std::string detail;
};

inline constexpr std::size_t kMinUsernameLength = 3;
inline constexpr std::size_t kMaxUsernameLength = 32;
inline constexpr std::size_t kMaxEmailLength = 254;
inline constexpr std::size_t kMinPasswordLength = 8;
inline constexpr std::size_t kMaxPasswordLength = 1024;
inline constexpr std::size_t kMaxLoginLength = 254;

// 3-32 characters of A-Z a-z 0-9 _ . - (code "invalid_username").
std::optional<FieldProblem> check_username(std::string_view username);

// At most 254 printable ASCII characters without spaces, exactly one '@', a non-empty local
// part and a domain of two or more non-empty dot-separated labels (code "invalid_email").
std::optional<FieldProblem> check_email(std::string_view email);

// 8-1024 code points of valid UTF-8 (no overlongs, no surrogates), none of them a C0 control,
// DEL or a C1 control; spaces are fine (code "invalid_password").
std::optional<FieldProblem> check_password(std::string_view password);

// A login identifier as sent (an email or a username): at most 254 bytes of valid UTF-8 with no
// C0 control, DEL or C1 control (code "invalid_login"). Its form alone decides, so the answer
// says nothing about whether an account exists.
std::optional<FieldProblem> check_login(std::string_view identifier);

// True when text is well-formed UTF-8 with no C0 control, DEL or C1 control (NUL included).
bool is_printable_utf8(std::string_view text);

// Number of code points in well-formed UTF-8; nullopt for anything ill-formed.
std::optional<std::size_t> utf8_length(std::string_view text);

// A-Z mapped to a-z, every other byte unchanged: case-insensitive uniqueness and login limits.
std::string ascii_lower(std::string_view text);

}  // namespace authd::auth
