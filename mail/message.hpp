#pragma once

#include <string>
#include <string_view>

// Plain-text mails as RFC 5322 wants them: CRLF lines, a Date, a stable Message-ID, UTF-8 text.
namespace authd::mail {

// "<32 hex>@<domain of from>": made once per mail, stored with it, so a retry is the same mail.
std::string new_message_id(std::string_view from);

// The whole message. to may be the placeholder "@RECIPIENT@" (filled in by the database).
std::string compose(std::string_view from, std::string_view to, std::string_view subject,
                    std::string_view message_id, std::string_view body);

}  // namespace authd::mail
