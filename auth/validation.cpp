#include "auth/validation.hpp"

#include <algorithm>

namespace authd::auth {
namespace {

constexpr char32_t kInvalidCodePoint = 0xFFFFFFFF;

bool is_continuation(unsigned char byte) {
  return (byte & 0xC0) == 0x80;
}

// Decodes one code point from the front of text and removes it; kInvalidCodePoint for
// ill-formed UTF-8. The second-byte ranges exclude overlongs, surrogates and values past
// U+10FFFF (Unicode Table 3-7).
char32_t take_code_point(std::string_view& text) {
  const auto b0 = static_cast<unsigned char>(text[0]);
  std::size_t length = 0;
  char32_t cp = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (b0 < 0x80) {
    text.remove_prefix(1);
    return b0;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) second_min = 0xA0;
    if (b0 == 0xED) second_max = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) second_min = 0x90;
    if (b0 == 0xF4) second_max = 0x8F;
  } else {
    return kInvalidCodePoint;
  }
  if (text.size() < length) return kInvalidCodePoint;
  const auto b1 = static_cast<unsigned char>(text[1]);
  if (b1 < second_min || b1 > second_max) return kInvalidCodePoint;
  for (std::size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (!is_continuation(b)) return kInvalidCodePoint;
    cp = (cp << 6) | (b & 0x3F);
  }
  text.remove_prefix(length);
  return cp;
}

bool is_control(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

bool is_username_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Printable ASCII without the space.
bool is_email_char(char c) {
  return c > 0x20 && c < 0x7F;
}

FieldProblem username_problem(std::string detail) {
  return {"invalid_username", std::move(detail)};
}

FieldProblem email_problem(std::string detail) {
  return {"invalid_email", std::move(detail)};
}

FieldProblem password_problem(std::string detail) {
  return {"invalid_password", std::move(detail)};
}

}  // namespace

std::optional<FieldProblem> check_username(std::string_view username) {
  if (username.size() < kMinUsernameLength || username.size() > kMaxUsernameLength) {
    return username_problem("Username must be 3 to 32 characters long.");
  }
  if (!std::all_of(username.begin(), username.end(), is_username_char)) {
    return username_problem("Username may only contain letters, digits, '_', '.' and '-'.");
  }
  return std::nullopt;
}

std::optional<FieldProblem> check_email(std::string_view email) {
  if (email.empty()) return email_problem("Email is required.");
  if (email.size() > kMaxEmailLength) {
    return email_problem("Email must be at most 254 characters long.");
  }
  if (!std::all_of(email.begin(), email.end(), is_email_char)) {
    return email_problem("Email may only contain printable ASCII characters without spaces.");
  }
  const std::size_t at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos) {
    return email_problem("Email must contain exactly one '@'.");
  }
  if (at == 0) return email_problem("Email needs a name before the '@'.");
  std::string_view domain = email.substr(at + 1);
  if (domain.find('.') == std::string_view::npos) {
    return email_problem("Email domain must contain a dot.");
  }
  while (true) {
    const std::size_t dot = domain.find('.');
    if (domain.substr(0, dot).empty()) {
      return email_problem("Email domain must not have empty parts between dots.");
    }
    if (dot == std::string_view::npos) break;
    domain.remove_prefix(dot + 1);
  }
  return std::nullopt;
}

std::optional<FieldProblem> check_password(std::string_view password) {
  std::size_t length = 0;
  bool has_control = false;
  while (!password.empty()) {
    const char32_t cp = take_code_point(password);
    if (cp == kInvalidCodePoint) return password_problem("Password must be valid UTF-8.");
    has_control = has_control || is_control(cp);
    ++length;
  }
  if (has_control) return password_problem("Password must not contain control characters.");
  if (length < kMinPasswordLength || length > kMaxPasswordLength) {
    return password_problem("Password must be 8 to 1024 characters long.");
  }
  return std::nullopt;
}

std::optional<FieldProblem> check_login(std::string_view identifier) {
  if (identifier.size() > kMaxLoginLength) {
    return FieldProblem{"invalid_login", "The login must be at most 254 bytes long."};
  }
  if (!is_printable_utf8(identifier)) {
    return FieldProblem{"invalid_login",
                        "The login must be valid UTF-8 without control characters."};
  }
  return std::nullopt;
}

bool is_printable_utf8(std::string_view text) {
  while (!text.empty()) {
    const char32_t cp = take_code_point(text);
    if (cp == kInvalidCodePoint || is_control(cp)) return false;
  }
  return true;
}

std::optional<std::size_t> utf8_length(std::string_view text) {
  std::size_t length = 0;
  while (!text.empty()) {
    if (take_code_point(text) == kInvalidCodePoint) return std::nullopt;
    ++length;
  }
  return length;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace authd::auth
