#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "server/http.hpp"

// The bytes of an HTTP/1.1 response head, written straight into the connection's output buffer:
// pipelined answers are appended one after another and leave in a single write.
namespace authd::server {

struct WireHead {
  std::string_view request_id;
  bool close = false;        // adds "Connection: close"
  bool http10_keep = false;  // an HTTP/1.0 client that asked to keep the connection
  bool head_only = false;    // the answer to HEAD: the same head, no body bytes
};

// "200" → "OK"; a code without a phrase of its own gets an empty one.
std::string_view reason_phrase(int status);

// Status line and headers, the blank line included. content_length is the body's size; 1xx,
// 204 and 304 answers never carry one.
void append_head(std::string& out, const Response& response, const WireHead& head,
                 std::size_t content_length, std::string_view extra_header = {});

// A whole response with its string body; with head.head_only its head alone, whose
// Content-Length is still the body's.
void append_response(std::string& out, const Response& response, const WireHead& head);

// The current time as an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT"), formatted once a second
// per thread.
std::string_view http_date();

}  // namespace authd::server
