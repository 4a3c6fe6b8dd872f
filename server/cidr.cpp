#include "server/cidr.hpp"

#include <charconv>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v6.hpp>

namespace authd::server {

namespace ip = boost::asio::ip;

namespace {

// IPv4 as IPv4-mapped IPv6, so one network type serves both families.
ip::address_v6 as_v6(const ip::address& address) {
  return address.is_v4() ? ip::make_address_v6(ip::v4_mapped, address.to_v4()) : address.to_v6();
}

}  // namespace

std::optional<std::array<unsigned char, 16>> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  boost::system::error_code ec;
  const ip::address address = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  const auto bytes = as_v6(address).to_bytes();
  std::array<unsigned char, 16> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string_view host = text.substr(0, slash);
  boost::system::error_code ec;
  const ip::address address = ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  const unsigned max = address.is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
        prefix > max) {
      return std::nullopt;
    }
  }
  if (address.is_v4()) prefix += 96;
  const auto network =
      ip::network_v6(as_v6(address), static_cast<unsigned short>(prefix)).canonical();
  Cidr cidr;
  const auto bytes = network.address().to_bytes();
  std::copy(bytes.begin(), bytes.end(), cidr.address.begin());
  cidr.prefix = prefix;
  return cidr;
}

bool cidr_contains(const Cidr& network, const std::array<unsigned char, 16>& address) {
  ip::address_v6::bytes_type bytes;
  std::copy(address.begin(), address.end(), bytes.begin());
  const auto prefix = static_cast<unsigned short>(network.prefix);
  const auto candidate = ip::network_v6(ip::address_v6(bytes), prefix).canonical();
  ip::address_v6::bytes_type own;
  std::copy(network.address.begin(), network.address.end(), own.begin());
  return candidate.address() == ip::address_v6(own);
}

}  // namespace authd::server
