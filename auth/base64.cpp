#include "auth/base64.hpp"

#include <array>
#include <cstdint>

namespace authd::auth {
namespace {

constexpr std::string_view kStandardAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::uint8_t kInvalid = 0xff;

using DecodeTable = std::array<std::uint8_t, 256>;

constexpr DecodeTable make_decode_table(std::string_view alphabet) {
  DecodeTable table{};
  table.fill(kInvalid);
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}

constexpr DecodeTable kStandardTable = make_decode_table(kStandardAlphabet);
constexpr DecodeTable kUrlTable = make_decode_table(kUrlAlphabet);

std::string encode(std::span<const unsigned char> data, std::string_view alphabet) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t group = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) |
                                std::uint32_t{data[i + 2]};
    out += alphabet[(group >> 18) & 0x3f];
    out += alphabet[(group >> 12) & 0x3f];
    out += alphabet[(group >> 6) & 0x3f];
    out += alphabet[group & 0x3f];
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const std::uint32_t group = std::uint32_t{data[i]} << 16;
    out += alphabet[(group >> 18) & 0x3f];
    out += alphabet[(group >> 12) & 0x3f];
  } else if (rest == 2) {
    const std::uint32_t group = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out += alphabet[(group >> 18) & 0x3f];
    out += alphabet[(group >> 12) & 0x3f];
    out += alphabet[(group >> 6) & 0x3f];
  }
  return out;
}

// Decodes into out; the number of bytes, or nullopt (not this alphabet's, or more than out holds).
std::optional<std::size_t> decode_into(std::string_view text, const DecodeTable& table,
                                       bool allow_padding, std::span<unsigned char> out) {
  if (allow_padding && text.size() % 4 == 0) {
    // Padding is only meaningful on a full final quantum: "xx==" or "xxx=".
    std::size_t pad = 0;
    while (pad < 2 && !text.empty() && text.back() == '=') {
      text.remove_suffix(1);
      ++pad;
    }
    if (pad > 0 && text.size() % 4 != 4 - pad) return std::nullopt;
  }
  if (text.size() % 4 == 1) return std::nullopt;

  std::size_t written = 0;
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (const char c : text) {
    const std::uint8_t value = table[static_cast<unsigned char>(c)];
    if (value == kInvalid) return std::nullopt;
    bits = (bits << 6) | value;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      if (written == out.size()) return std::nullopt;
      out[written++] = static_cast<unsigned char>((bits >> bit_count) & 0xff);
    }
  }
  // Leftover bits must be zero, otherwise two spellings would decode to the same bytes.
  if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return written;
}

std::optional<std::vector<unsigned char>> decode(std::string_view text, const DecodeTable& table,
                                                 bool allow_padding) {
  std::vector<unsigned char> out(text.size() * 3 / 4 + 1);
  const auto n = decode_into(text, table, allow_padding, out);
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

}  // namespace

std::string base64_encode(std::span<const unsigned char> data) {
  return encode(data, kStandardAlphabet);
}

std::optional<std::vector<unsigned char>> base64_decode(std::string_view text) {
  return decode(text, kStandardTable, true);
}

std::string base64url_encode(std::span<const unsigned char> data) {
  return encode(data, kUrlAlphabet);
}

std::optional<std::vector<unsigned char>> base64url_decode(std::string_view text) {
  return decode(text, kUrlTable, false);
}

std::optional<std::size_t> base64_decode_into(std::string_view text, std::span<unsigned char> out) {
  return decode_into(text, kStandardTable, true, out);
}

std::optional<std::size_t> base64url_decode_into(std::string_view text,
                                                 std::span<unsigned char> out) {
  return decode_into(text, kUrlTable, false, out);
}

}  // namespace authd::auth
