#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Secrets at rest under AUTHD_SECRET_KEY: AES-256-GCM with a random 96-bit nonce, the key's id
// kept with the ciphertext so that a new key can be introduced while old secrets still open.
// Sealed text: "v1:<key id>:<hex of nonce | ciphertext | tag>"; the key id is the first 8 hex
// digits of the key's SHA-256 (it names the key, it reveals nothing of it).
namespace authd::mfa {

struct SecretKey {
  std::array<unsigned char, 32> bytes{};
  std::string id;
};

// The key of these bytes, with its id. (AUTHD_SECRET_KEY's base64 is read by
// server::parse_secret_key.)
SecretKey secret_key(const std::array<unsigned char, 32>& bytes);

class Keyring {
 public:
  // current seals; current and every old one open.
  Keyring(SecretKey current, std::vector<SecretKey> old = {});

  // context is bound in (the GCM additional data): a secret sealed for one user does not open
  // as another's.
  std::string seal(std::span<const unsigned char> plaintext, std::string_view context) const;
  // nullopt: not sealed text, no key of that id, or refused by GCM (a wrong key, a changed byte).
  std::optional<std::vector<unsigned char>> open(std::string_view sealed,
                                                 std::string_view context) const;
  // Sealed with a key other than the current one: worth sealing again.
  bool is_old(std::string_view sealed) const;
  const std::string& current_id() const { return current_.id; }

 private:
  const SecretKey* key_for(std::string_view id) const;
  SecretKey current_;
  std::vector<SecretKey> old_;
};

}  // namespace authd::mfa
