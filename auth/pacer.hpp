#pragma once

#include <cstdint>

namespace authd::auth {

// Lets a long PBKDF2 derivation give way to more urgent work: the derivation calls give_way()
// every kEvery iterations, and the pacer may pause the thread there.
class Pacer {
 public:
  // About half a millisecond of one core at this code's speed: a CPU that a hash thread holds
  // is handed back within about that long.
  static constexpr std::uint32_t kEvery = 4096;

  virtual ~Pacer() = default;
  virtual void give_way() const = 0;
};

}  // namespace authd::auth
