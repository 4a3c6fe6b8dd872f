#include "server/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace authd::server {

std::optional<std::array<unsigned char, 16>> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  std::array<unsigned char, 16> out{};
  unsigned char v4[4];
  if (inet_pton(AF_INET, s.c_str(), v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    for (int i = 0; i < 4; ++i) out[12 + i] = v4[i];
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) return out;
  return std::nullopt;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const auto address = parse_ip(text.substr(0, slash));
  if (!address) return std::nullopt;
  const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  const unsigned max = v4 ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        prefix > max) {
      return std::nullopt;
    }
  }
  return Cidr{*address, v4 ? prefix + 96 : prefix};
}

bool cidr_contains(const Cidr& network, const std::array<unsigned char, 16>& address) {
  unsigned bits = network.prefix;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i) {
    const unsigned take = bits >= 8 ? 8 : bits;
    const auto mask = static_cast<unsigned char>(0xff << (8 - take));
    if ((network.address[i] & mask) != (address[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

}  // namespace authd::server
