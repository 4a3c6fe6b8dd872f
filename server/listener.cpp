#include "server/listener.hpp"

#include <list>
#include <mutex>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "server/problem.hpp"
#include "server/routes.hpp"

namespace authd::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 16 * 1024;
constexpr auto kHeaderTimeout = 10s;
constexpr auto kIdleTimeout = 60s;
constexpr auto kWriteTimeout = 30s;

// What drain() needs to reach a connection: whether it waits for a new request, and how to
// close it from its own strand.
struct ConnectionState {
  net::strand<net::io_context::executor_type> strand;
  tcp::socket* socket = nullptr;
  bool idle = true;
};

std::string make_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(random()));
  return text;
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

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

struct Listener::Impl : std::enable_shared_from_this<Listener::Impl> {
  Impl(App& a, net::io_context& i, net::ssl::context* t) : app(a), io(i), tls(t) {}

  App& app;
  net::io_context& io;
  net::ssl::context* tls;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  mutable std::mutex mutex;
  std::list<std::shared_ptr<ConnectionState>> live;

  net::awaitable<void> accept_loop(tcp::acceptor& acceptor);
  template <class Stream>
  net::awaitable<void> run_connection(Stream& stream, ConnectionState& state, tcp::endpoint peer);
  net::awaitable<void> serve_plain(tcp::socket socket, std::shared_ptr<ConnectionState> state);
  net::awaitable<void> serve_tls(tcp::socket socket, std::shared_ptr<ConnectionState> state);
};

Listener::Listener(App& app, net::io_context& io, net::ssl::context* tls)
    : impl_(std::make_shared<Impl>(app, io, tls)) {}

Listener::~Listener() = default;

void Listener::start() {
  const auto address = net::ip::make_address(impl_->app.config.listen_host);
  const tcp::endpoint endpoint(address, impl_->app.config.listen_port);
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->io);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(net::socket_base::reuse_address(true));
  if (address.is_v6()) acceptor->set_option(net::ip::v6_only(false));
  acceptor->bind(endpoint);
  acceptor->listen(net::socket_base::max_listen_connections);
  auto& ref = *acceptor;
  impl_->acceptors.push_back(std::move(acceptor));
  auto loop = impl_->accept_loop(ref);
  net::co_spawn(impl_->io, std::move(loop), [app = &impl_->app](std::exception_ptr error) {
    if (error) app->log.event("error", "accept loop stopped unexpectedly");
  });
}

unsigned short Listener::port() const {
  return impl_->acceptors.empty() ? 0 : impl_->acceptors.front()->local_endpoint().port();
}

std::size_t Listener::connections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->live.size();
}

void Listener::drain(std::chrono::milliseconds deadline,
                     std::function<void(std::size_t left)> done) {
  auto impl = impl_;
  net::post(impl->io, [impl, deadline, done = std::move(done)]() mutable {
    impl->app.draining = true;
    for (auto& acceptor : impl->acceptors) {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    }
    {
      std::lock_guard lock(impl->mutex);
      for (auto& state : impl->live) {
        net::post(state->strand, [state] {
          if (state->idle && state->socket != nullptr) {
            boost::system::error_code ignored;
            state->socket->cancel(ignored);
          }
        });
      }
    }
    // Poll until the last busy connection has answered, or the deadline passes.
    auto timer = std::make_shared<net::steady_timer>(impl->io);
    auto until = std::chrono::steady_clock::now() + deadline;
    auto check = std::make_shared<std::function<void()>>();
    *check = [impl, timer, until, done, check] {
      std::size_t left = 0;
      {
        std::lock_guard lock(impl->mutex);
        left = impl->live.size();
      }
      if (left == 0 || std::chrono::steady_clock::now() >= until) {
        done(left);
        *check = nullptr;  // breaks the self-reference
        return;
      }
      timer->expires_after(20ms);
      timer->async_wait([check](boost::system::error_code) {
        if (*check) (*check)();
      });
    };
    (*check)();
  });
}

net::awaitable<void> Listener::Impl::accept_loop(tcp::acceptor& acceptor) {
  auto self = shared_from_this();
  for (;;) {
    auto strand = net::make_strand(io);
    auto [ec, socket] = co_await acceptor.async_accept(strand, net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: pause instead of spinning.
      net::steady_timer pause(io, 50ms);
      co_await pause.async_wait(net::use_awaitable);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto state = std::make_shared<ConnectionState>(ConnectionState{strand, nullptr, true});
    {
      std::lock_guard lock(mutex);
      live.push_back(state);
    }
    auto on_done = [self, state](std::exception_ptr error) {
      if (error) self->app.log.event("error", "a connection ended with an unexpected exception");
      std::lock_guard lock(self->mutex);
      self->live.remove(state);
    };
    if (tls != nullptr) {
      auto session = serve_tls(std::move(socket), state);
      net::co_spawn(strand, std::move(session), on_done);
    } else {
      auto session = serve_plain(std::move(socket), state);
      net::co_spawn(strand, std::move(session), on_done);
    }
  }
}

net::awaitable<void> Listener::Impl::serve_plain(tcp::socket socket,
                                                 std::shared_ptr<ConnectionState> state) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;
  beast::tcp_stream stream(std::move(socket));
  state->socket = &stream.socket();
  co_await run_connection(stream, *state, peer);
  state->socket = nullptr;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> Listener::Impl::serve_tls(tcp::socket socket,
                                               std::shared_ptr<ConnectionState> state) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
  state->socket = &beast::get_lowest_layer(stream).socket();
  beast::get_lowest_layer(stream).expires_after(kHeaderTimeout);
  auto [hs_ec] = co_await stream.async_handshake(net::ssl::stream_base::server,
                                                 net::as_tuple(net::use_awaitable));
  if (!hs_ec) {
    co_await run_connection(stream, *state, peer);
    if (!app.draining) {
      beast::get_lowest_layer(stream).expires_after(1s);
      co_await stream.async_shutdown(net::as_tuple(net::use_awaitable));
    }
  }
  state->socket = nullptr;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
}

namespace {

template <class Stream, class Message>
net::awaitable<bool> write_message(Stream& stream, Message& message) {
  beast::get_lowest_layer(stream).expires_after(kWriteTimeout);
  auto [ec, n] = co_await http::async_write(stream, message, net::as_tuple(net::use_awaitable));
  co_return !ec;
}

// Answers a request that could not be read, then the connection closes.
template <class Stream>
net::awaitable<void> refuse(Stream& stream, int status, std::string_view code,
                            std::string_view detail) {
  const Response r = problem(status, code, detail);
  http::response<http::string_body> message{static_cast<http::status>(r.status), 11};
  message.set(http::field::content_type, r.content_type);
  message.keep_alive(false);
  message.body() = r.body;
  message.prepare_payload();
  co_await write_message(stream, message);
}

template <class Message>
void set_common(Message& message, const Response& response, const Request& request, bool close) {
  message.set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) message.insert(name, value);
  message.set("X-Request-Id", request.request_id);
  message.keep_alive(!close);
}

}  // namespace

template <class Stream>
net::awaitable<void> Listener::Impl::run_connection(Stream& stream, ConnectionState& state,
                                                    tcp::endpoint peer) {
  auto& lowest = beast::get_lowest_layer(stream);
  beast::flat_buffer buffer;
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
  base.tls = tls != nullptr;

  for (;;) {
    // Waiting for the next request: the idle deadline, and drain() may close us here.
    if (buffer.size() == 0) {
      state.idle = true;
      if (app.draining) co_return;
      lowest.expires_after(kIdleTimeout);
      auto [ec, n] =
          co_await stream.async_read_some(buffer.prepare(4096), net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      buffer.commit(n);
    }
    state.idle = false;

    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    lowest.expires_after(kHeaderTimeout);
    auto [hec, hn] =
        co_await http::async_read_header(stream, buffer, parser, net::as_tuple(net::use_awaitable));
    if (hec == http::error::header_limit) {
      co_await refuse(stream, 431, "headers_too_large", "Request line and headers exceed 8 KiB.");
      co_return;
    }
    if (hec == http::error::body_limit) {
      co_await refuse(stream, 413, "body_too_large", "Request bodies are limited to 16 KiB.");
      co_return;
    }
    if (hec == beast::error::timeout || hec == http::error::end_of_stream ||
        hec == net::error::eof || hec == net::error::operation_aborted ||
        hec == net::error::connection_reset) {
      co_return;
    }
    if (hec) {
      co_await refuse(stream, 400, "malformed_request", "The request is not valid HTTP/1.1.");
      co_return;
    }
    const auto started = std::chrono::steady_clock::now();
    if (!parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        if (!co_await write_message(stream, go_on)) co_return;
      }
      lowest.expires_after(kHeaderTimeout);
      auto [bec, bn] =
          co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
      if (bec == http::error::body_limit) {
        co_await refuse(stream, 413, "body_too_large", "Request bodies are limited to 16 KiB.");
        co_return;
      }
      if (bec == beast::error::timeout || bec == net::error::eof ||
          bec == http::error::end_of_stream || bec == net::error::operation_aborted) {
        co_return;
      }
      if (bec) {
        co_await refuse(stream, 400, "malformed_request", "The request body is not valid.");
        co_return;
      }
    }

    auto message = parser.release();
    Request request = base;
    request.method = std::string(message.method_string());
    const std::string_view target = message.target();
    request.path = std::string(target.substr(0, target.find('?')));
    for (const auto& field : message) {
      request.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    const auto given_id = request.header("x-request-id");
    request.request_id =
        given_id && acceptable_request_id(*given_id) ? std::string(*given_id) : make_request_id();

    Handled handled = co_await handle_request(app, request);
    Response& response = handled.response;
    const bool close = response.close || !message.keep_alive() || app.draining;

    bool written = false;
    if (response.file) {
      http::response<http::file_body> out{static_cast<http::status>(response.status), 11};
      beast::error_code fec;
      out.body().open(response.file->path.c_str(), beast::file_mode::scan, fec);
      if (fec) {
        response = problem(410, "backup_file_missing", "The backup's file is no longer there.");
      } else {
        set_common(out, response, request, close);
        out.set(http::field::content_disposition,
                "attachment; filename=\"" + response.file->download_name + "\"");
        out.prepare_payload();
        written = co_await write_message(stream, out);
        if (!written) co_return;
      }
    }
    if (!written) {
      http::response<http::string_body> out{static_cast<http::status>(response.status), 11};
      set_common(out, response, request, close);
      out.body() = std::move(response.body);
      out.prepare_payload();
      if (!co_await write_message(stream, out)) co_return;
    }

    const auto elapsed = std::chrono::steady_clock::now() - started;
    app.metrics.observe(handled.route, response.status, elapsed);
    app.log.request({request.request_id, request.method, handled.name, response.status, elapsed,
                     request.peer_text});
    if (close) co_return;
  }
}

}  // namespace authd::server
