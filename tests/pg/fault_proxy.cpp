#include "tests/pg/fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace authd::test {
namespace {

using Clock = std::chrono::steady_clock;

struct Pair {
  int client = -1;
  int server = -1;
  bool dropping = false;
  std::optional<Clock::time_point> close_at;
};

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

int connect_to(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

unsigned short url_port(const std::string& url) {
  const std::size_t at = url.find('@');
  const std::size_t colon = url.find(':', at == std::string::npos ? url.find("://") + 3 : at);
  return static_cast<unsigned short>(std::stoi(url.substr(colon + 1)));
}

std::string FaultProxy::url_through(const std::string& url) const {
  const std::size_t at = url.find('@');
  const std::size_t colon = url.find(':', at);
  const std::size_t slash = url.find('/', colon);
  return url.substr(0, colon + 1) + std::to_string(port_) + url.substr(slash);
}

FaultProxy::FaultProxy(unsigned short target_port) : target_port_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(listener_);
    throw std::runtime_error("fault proxy: cannot listen");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { loop(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  thread_.join();
  ::close(listener_);
}

void FaultProxy::arm(std::string marker, bool close) {
  std::lock_guard lock(mutex_);
  marker_ = std::move(marker);
  close_ = close;
  triggered_ = false;
}

void FaultProxy::loop() {
  std::vector<Pair> pairs;
  std::vector<char> buffer(1 << 16);
  const auto shut = [](Pair& pair) {
    ::close(pair.client);
    ::close(pair.server);
    pair.client = pair.server = -1;
  };
  while (!stop_) {
    std::vector<pollfd> looks{{listener_, POLLIN, 0}};
    for (const auto& pair : pairs) {
      looks.push_back({pair.client, POLLIN, 0});
      looks.push_back({pair.server, POLLIN, 0});
    }
    ::poll(looks.data(), looks.size(), 20);
    if (looks[0].revents & POLLIN) {
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        const int server = connect_to(target_port_);
        if (server < 0) {
          ::close(client);
        } else {
          pairs.push_back({client, server, false, std::nullopt});
        }
      }
    }
    for (std::size_t i = 0; i + 1 < looks.size(); i += 2) {
      if (i / 2 >= pairs.size()) break;
      Pair& pair = pairs[i / 2];
      if (pair.client < 0) continue;
      if (looks[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(pair.client, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
          shut(pair);
          continue;
        }
        {
          std::lock_guard lock(mutex_);
          if (!marker_.empty() &&
              std::string_view(buffer.data(), static_cast<std::size_t>(n)).find(marker_) !=
                  std::string_view::npos) {
            pair.dropping = true;
            if (close_) pair.close_at = Clock::now() + std::chrono::milliseconds(300);
            marker_.clear();
            triggered_ = true;
          }
        }
        if (!write_all(pair.server, buffer.data(), static_cast<std::size_t>(n))) {
          shut(pair);
          continue;
        }
      }
      if (looks[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(pair.server, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
          shut(pair);
          continue;
        }
        if (!pair.dropping && !write_all(pair.client, buffer.data(), static_cast<std::size_t>(n))) {
          shut(pair);
          continue;
        }
      }
      if (pair.close_at && Clock::now() >= *pair.close_at) shut(pair);
    }
    std::erase_if(pairs, [](const Pair& pair) { return pair.client < 0; });
  }
  for (auto& pair : pairs) shut(pair);
}

}  // namespace authd::test
