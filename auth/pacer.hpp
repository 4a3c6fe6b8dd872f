#pragma once

#include <cstdint>
#include <stdexcept>

namespace authd::auth {

// A derivation stopped because its pacer asked it to (the hash pool is stopping).
class DerivationAbandoned : public std::runtime_error {
 public:
  DerivationAbandoned() : std::runtime_error("password hashing abandoned") {}
};

// Lets a long PBKDF2 derivation give way to more urgent work: the derivation calls give_way()
// every kEvery iterations, and the pacer may pause the thread there, or answer false to end
// the derivation with DerivationAbandoned.
class Pacer {
 public:
  // About half a millisecond of one core at this code's speed: a CPU that a hash thread holds
  // is handed back within about that long.
  static constexpr std::uint32_t kEvery = 4096;

  virtual ~Pacer() = default;
  virtual bool give_way() const = 0;
};

}  // namespace authd::auth
