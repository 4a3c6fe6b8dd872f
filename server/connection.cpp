#include "server/connection.hpp"

#include <poll.h>

#include <atomic>
#include <memory>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "auth/hash_pool.hpp"
#include "auth/validation.hpp"
#include "server/file_stream.hpp"
#include "server/problem.hpp"
#include "server/routes.hpp"
#include "server/wire.hpp"

namespace authd::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

using TlsStream = net::ssl::stream<Socket>;

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 16 * 1024;
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kFlushAt = 64 * 1024;  // pipelined answers are sent at least this often
constexpr auto kIdleTimeout = 60s;
constexpr auto kWriteTimeout = 30s;
constexpr auto kTlsShutdownTimeout = 1s;

std::string make_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t value = random();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) id[static_cast<std::size_t>(i)] = kHex[value & 15];
  return id;
}

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// The socket's descriptor as handlers on other threads may look at it: -1 once the connection
// has ended, so a late question is answered "gone" instead of probing a reused descriptor.
using SharedFd = std::shared_ptr<std::atomic<int>>;

class FdRelease {
 public:
  explicit FdRelease(SharedFd fd) : fd_(std::move(fd)) {}
  ~FdRelease() { fd_->store(-1); }
  FdRelease(const FdRelease&) = delete;
  FdRelease& operator=(const FdRelease&) = delete;

 private:
  SharedFd fd_;
};

// Asks the kernel, without reading, whether the peer has closed its side (FIN or reset).
std::function<bool()> client_gone_probe(SharedFd fd) {
  return [fd = std::move(fd)] {
    const int descriptor = fd->load();
    if (descriptor < 0) return true;
    pollfd probe{descriptor, POLLRDHUP, 0};
    return ::poll(&probe, 1, 0) > 0 && (probe.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  };
}

Request base_request(const tcp::endpoint& peer, bool tls, std::function<bool()> client_gone) {
  Request base;
  const auto address = peer.address();
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    base.peer[10] = base.peer[11] = 0xff;
    std::copy(bytes.begin(), bytes.end(), base.peer.begin() + 12);
  } else {
    const auto bytes = address.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), base.peer.begin());
  }
  base.peer_text = address.to_string();
  base.tls = tls;
  base.client_gone = std::move(client_gone);
  return base;
}

template <class Stream>
net::awaitable<bool> flush(Stream& stream, ConnectionState& state, std::string& out) {
  state.deadline = Clock::now() + kWriteTimeout;
  auto [ec, n] =
      co_await net::async_write(stream, net::buffer(out), net::as_tuple(net::use_awaitable));
  out.clear();
  co_return !ec;
}

// Answers a request that could not be read, after what is already waiting in out; the caller
// then closes the connection.
template <class Stream>
net::awaitable<void> refuse(Stream& stream, ConnectionState& state, std::string& out,
                            bool head_only, int status, std::string_view code,
                            std::string_view detail) {
  append_response(out, problem(status, code, detail), WireHead{{}, true, false, head_only});
  co_await flush(stream, state, out);
}

template <class Stream>
net::awaitable<void> serve_requests(App& app, Stream& stream, ConnectionState& state,
                                    const Request& base, Clock::time_point first_deadline) {
  beast::flat_buffer buffer;
  std::string out;  // answers not yet written: pipelined ones leave together
  const std::function<net::awaitable<bool>()> flush_out = [&] { return flush(stream, state, out); };

  for (bool first = true;; first = false) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    // Not eager until the header is done: put() then stops at the header's end, so the bytes it
    // used are the header's alone.
    parser.eager(false);
    std::size_t header_bytes = 0;
    bool header_handled = false;
    Clock::time_point started{};
    bool begun = false;  // bytes of this request have arrived: its 10 s have started
    // A new connection's first request has its 10 s from the accept, not from its first byte.
    Clock::time_point request_deadline = first_deadline;

    // Parse what has arrived; read more only when it is not a whole request yet.
    while (!parser.is_done()) {
      if (buffer.size() > 0) {
        if (!begun) {
          begun = true;
          started = Clock::now();
          state.idle = false;
          if (!first) request_deadline = started + kHeaderTimeout;
          state.deadline = request_deadline;
        }
        const bool in_header = !parser.is_header_done();
        beast::error_code ec;
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        // Beast's header_limit bounds what one put() sees, and put() keeps back only the line
        // not yet complete: the request line and all fields are counted here.
        if (in_header) header_bytes += used;
        const bool header_too_large =
            in_header && (parser.is_header_done() ? header_bytes > kHeaderLimit
                                                  : header_bytes + buffer.size() > kHeaderLimit);
        const bool head_only = parser.get().method() == http::verb::head;
        if (ec == http::error::header_limit || header_too_large) {
          co_await refuse(stream, state, out, head_only, 431, "headers_too_large",
                          "Request line and headers exceed 8 KiB.");
          co_return;
        }
        if (ec == http::error::body_limit) {
          co_await refuse(stream, state, out, head_only, 413, "body_too_large",
                          "Request bodies are limited to 16 KiB.");
          co_return;
        }
        if (ec && ec != http::error::need_more) {
          co_await refuse(stream, state, out, head_only, 400, "malformed_request",
                          "The request is not valid HTTP/1.1.");
          co_return;
        }
        if (parser.is_header_done() && !header_handled) {
          header_handled = true;
          parser.eager(true);
          // The body gets 10 s of its own, however slowly it trickles in.
          request_deadline = Clock::now() + kHeaderTimeout;
          state.deadline = request_deadline;
          if (!parser.is_done() &&
              beast::iequals(parser.get()[http::field::expect], "100-continue")) {
            out.append("HTTP/1.1 100 Continue\r\n\r\n");
          }
        }
        if (parser.is_done()) break;
        if (!ec && used > 0 && buffer.size() > 0) continue;
      }
      // Waiting for the client: first send what is ready.
      if (!out.empty() && !co_await flush(stream, state, out)) co_return;
      if (!begun) {
        state.idle = true;
        if (app.draining) co_return;
        state.deadline = first ? first_deadline : Clock::now() + kIdleTimeout;
      } else {
        state.deadline = request_deadline;  // a flush above set the write deadline
      }
      // Errors end the connection: the client left, the sweeper closed it at its deadline,
      // or drain() cancelled an idle read.
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk),
                                                     net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      buffer.commit(n);
    }

    auto& message = parser.get();
    Request request = base;
    // HEAD is routed as GET, whatever the router knows, and answered without the body.
    const bool head_only = message.method() == http::verb::head;
    request.method = head_only ? std::string("GET") : std::string(message.method_string());
    const std::string_view target = message.target();
    const std::size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos)
      request.query = std::string(target.substr(question + 1));
    request.headers.reserve(8);
    for (const auto& field : message) {
      request.headers.emplace_back(auth::ascii_lower(field.name_string()),
                                   std::string(field.value()));
    }
    request.body = std::move(message.body());
    const auto given_id = request.header("x-request-id");
    request.request_id =
        given_id && acceptable_request_id(*given_id) ? std::string(*given_id) : make_request_id();
    const bool keep_alive = message.keep_alive();
    const bool http10 = message.version() == 10;

    // No deadline while the handler runs: hashing and SQL bound their own waits.
    state.deadline = Clock::time_point::max();
    app.hashes.note_activity();
    Handled handled = co_await handle_request(app, request);
    Response& response = handled.response;
    const bool close = response.close || !keep_alive || app.draining;
    const WireHead head{request.request_id, close, http10 && !close, head_only};

    if (response.file) {
      if (!co_await send_file(app.file_readers, out, response, head, flush_out)) co_return;
    } else {
      append_response(out, response, head);
    }
    const auto elapsed = Clock::now() - started;
    app.metrics.observe(handled.route, response.status, elapsed);
    const std::string_view method = head_only ? std::string_view("HEAD") : request.method;
    app.log.request(
        {request.request_id, method, handled.name, response.status, elapsed, request.peer_text});

    if (close) {
      co_await flush(stream, state, out);
      co_return;
    }
    if (out.size() >= kFlushAt && !co_await flush(stream, state, out)) co_return;
  }
}

}  // namespace

net::awaitable<void> run_connection(App& app, Socket socket, ConnectionState& state,
                                    net::ssl::context* tls) {
  const auto first_deadline = Clock::now() + kHeaderTimeout;
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;
  auto fd = std::make_shared<std::atomic<int>>(socket.native_handle());
  const FdRelease release(fd);
  if (tls == nullptr) {
    state.socket = &socket;
    const Request base = base_request(peer, false, client_gone_probe(fd));
    co_await serve_requests(app, socket, state, base, first_deadline);
    state.socket = nullptr;
    socket.shutdown(tcp::socket::shutdown_send, ec);
    co_return;
  }
  TlsStream stream(std::move(socket), *tls);
  state.socket = &stream.next_layer();
  state.deadline = first_deadline;
  auto [hs_ec] = co_await stream.async_handshake(net::ssl::stream_base::server,
                                                 net::as_tuple(net::use_awaitable));
  if (!hs_ec) {
    const Request base = base_request(peer, true, client_gone_probe(fd));
    co_await serve_requests(app, stream, state, base, first_deadline);
    if (!app.draining && state.socket != nullptr) {
      state.deadline = Clock::now() + kTlsShutdownTimeout;
      co_await stream.async_shutdown(net::as_tuple(net::use_awaitable));
    }
  }
  state.socket = nullptr;
  stream.next_layer().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace authd::server
