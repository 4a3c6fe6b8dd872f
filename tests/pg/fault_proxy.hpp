#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace authd::test {

// A TCP proxy on 127.0.0.1 in front of PostgreSQL that can lose replies: once armed, the first
// bytes from a client that contain the marker are passed on, and from then on everything the
// server sends on that connection is dropped (the statement runs, its answer never arrives);
// with close, the client's side is closed shortly after, as a network cut would.
class FaultProxy {
 public:
  explicit FaultProxy(unsigned short target_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  unsigned short port() const { return port_; }
  void arm(std::string marker, bool close);
  // Replies were dropped since the last arm().
  bool triggered() const { return triggered_.load(); }

  // url with its port replaced by this proxy's.
  std::string url_through(const std::string& url) const;

 private:
  void loop();

  int listener_ = -1;
  unsigned short target_port_;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> triggered_{false};
  std::mutex mutex_;
  std::string marker_;
  bool close_ = false;
  std::thread thread_;
};

// The port of a postgresql://user@host:port/db URL.
unsigned short url_port(const std::string& url);

}  // namespace authd::test
