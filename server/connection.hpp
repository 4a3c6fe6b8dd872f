#pragma once

#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/app.hpp"

namespace boost::asio::ssl {
class context;
}

// One HTTP/1.1 connection: the TLS handshake when there is one, then the per-request loop
// (framing, limits, deadlines, pipelining). Beast stays in connection.cpp.
namespace authd::server {

using Clock = std::chrono::steady_clock;
// Sockets bound to their worker's concrete executor: no type-erased executor on the hot path.
using Socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// A connection's first request, like any other, must deliver its headers within this.
inline constexpr std::chrono::seconds kHeaderTimeout{10};

// What the listener's sweeper and drain need to reach a connection. Touched only on the
// connection's own worker thread.
struct ConnectionState {
  Socket* socket = nullptr;  // null once closed
  Clock::time_point deadline = Clock::time_point::max();
  bool idle = true;  // between requests: drain may close it
};

// Serves the connection until the client leaves, a deadline passes, a request asks to close,
// or the drain; then shuts down its sending side. With tls, a TLS handshake comes first.
boost::asio::awaitable<void> run_connection(App& app, Socket socket, ConnectionState& state,
                                            boost::asio::ssl::context* tls);

}  // namespace authd::server
