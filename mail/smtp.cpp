#include "mail/smtp.hpp"

#include <cstring>
#include <memory>

#include <curl/curl.h>

namespace authd::mail {

namespace {

struct Upload {
  const std::string* text;
  std::size_t offset = 0;
};

std::size_t read_part(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const std::size_t room = size * count;
  const std::size_t left = upload->text->size() - upload->offset;
  const std::size_t n = std::min(room, left);
  std::memcpy(buffer, upload->text->data() + upload->offset, n);
  upload->offset += n;
  return n;
}

struct Parts {
  std::string base;  // scheme://host:port, for curl
  std::string user, password;
  bool require_tls = false;
};

std::optional<Parts> parse(const std::string& url) {
  Parts p;
  std::string rest;
  if (url.starts_with("smtp://")) {
    rest = url.substr(7);
    p.base = "smtp://";
  } else if (url.starts_with("smtps://")) {
    rest = url.substr(8);
    p.base = "smtps://";
  } else {
    return std::nullopt;
  }
  if (const auto q = rest.find('?'); q != std::string::npos) {
    const std::string query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    if (query == "starttls=required") {
      p.require_tls = true;
    } else if (!query.empty()) {
      return std::nullopt;
    }
  }
  if (const auto at = rest.rfind('@'); at != std::string::npos) {
    const std::string credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = credentials.find(':');
    p.user = credentials.substr(0, colon);
    if (colon != std::string::npos) p.password = credentials.substr(colon + 1);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) return std::nullopt;
  p.base += rest;
  return p;
}

}  // namespace

bool valid_smtp_url(const std::string& url) {
  return parse(url).has_value();
}

std::optional<std::string> send(const SmtpSettings& settings, const std::string& recipient,
                                const std::string& message) {
  const auto parts = parse(settings.url);
  if (!parts) return "AUTHD_SMTP_URL cannot be used";
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return "libcurl could not start";
  CURL* c = curl.get();
  Upload upload{&message};
  curl_slist* to = curl_slist_append(nullptr, ("<" + recipient + ">").c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> recipients(to, &curl_slist_free_all);
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_URL, parts->base.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, ("<" + settings.from + ">").c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_part);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(settings.timeout.count()));
  curl_easy_setopt(c, CURLOPT_USE_SSL, parts->require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY);
  if (!parts->user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, parts->user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, parts->password.c_str());
  }
  const CURLcode result = curl_easy_perform(c);
  if (result == CURLE_OK) return std::nullopt;
  std::string why = error[0] ? error : curl_easy_strerror(result);
  // libcurl's message may quote the server; it never holds our password, but keep it short.
  if (why.size() > 200) why.resize(200);
  return why;
}

}  // namespace authd::mail
