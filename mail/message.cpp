#include "mail/message.hpp"

#include <array>
#include <ctime>
#include <stdexcept>

#include <openssl/rand.h>

#include "db/digest.hpp"

namespace authd::mail {

std::string new_message_id(std::string_view from) {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  std::string id = "<" + db::to_hex(bytes.data(), bytes.size());
  const auto at = from.rfind('@');
  std::string_view domain = at == std::string_view::npos ? "authd.localhost" : from.substr(at + 1);
  while (!domain.empty() && domain.back() == '>') domain.remove_suffix(1);
  id += "@";
  id += domain;
  id += ">";
  return id;
}

std::string compose(std::string_view from, std::string_view to, std::string_view subject,
                    std::string_view message_id, std::string_view body) {
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &utc);
  std::string text;
  text += "From: " + std::string(from) + "\r\n";
  text += "To: " + std::string(to) + "\r\n";
  text += "Subject: " + std::string(subject) + "\r\n";
  text += "Date: " + std::string(date) + "\r\n";
  text += "Message-ID: " + std::string(message_id) + "\r\n";
  text += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n";
  text += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  // CRLF line ends; a line that is a lone "." is the client library's to escape.
  for (const char ch : body) {
    if (ch == '\n') {
      text += "\r\n";
    } else if (ch != '\r') {
      text += ch;
    }
  }
  if (!text.ends_with("\r\n")) text += "\r\n";
  return text;
}

}  // namespace authd::mail
