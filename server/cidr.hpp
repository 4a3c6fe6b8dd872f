#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace authd::server {

// An IPv4 or IPv6 network; IPv4 is kept as an IPv4-mapped IPv6 network so one compare serves both.
struct Cidr {
  std::array<unsigned char, 16> address{};
  unsigned prefix = 0;  // of the 128 bits
};

std::optional<Cidr> parse_cidr(std::string_view text);
// Textual IPv4 or IPv6 address to 16 bytes (IPv4 mapped); nullopt when not an address.
std::optional<std::array<unsigned char, 16>> parse_ip(std::string_view text);
bool cidr_contains(const Cidr& network, const std::array<unsigned char, 16>& address);

}  // namespace authd::server
