#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "server/app.hpp"

namespace boost::asio::ssl {
class context;
}

namespace authd::server {

// Accepts connections on the first worker and hands them round-robin to all workers. Each worker
// is an io_context run by exactly one thread, so everything a connection does happens on one
// thread: that serialises it as a strand would, without a strand's locking. With a TLS context,
// every connection must complete a TLS handshake first.
class Listener {
 public:
  Listener(App& app, std::vector<boost::asio::io_context*> workers, boost::asio::ssl::context* tls);
  ~Listener();

  // Binds and starts accepting; throws std::system_error when the address cannot be used.
  void start();
  // Stops accepting, closes idle keep-alive connections and lets busy ones finish their
  // request; calls done (on an I/O thread) when none is left or the deadline passed.
  void drain(std::chrono::milliseconds deadline, std::function<void(std::size_t left)> done);
  std::size_t connections() const;
  unsigned short port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace authd::server
