#pragma once

#include <string>
#include <string_view>

namespace authd::mfa {

// text as a QR code in SVG (libqrencode, error correction M, a 4-module quiet zone).
std::string qr_svg(std::string_view text);

}  // namespace authd::mfa
