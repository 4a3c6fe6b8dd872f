#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "frontdoor/redirect.hpp"
#include "frontdoor/rules.hpp"

// The front door's state in a running authd: the rules in force (swapped whole on SIGHUP), where
// sign-ins happen, and how its verdicts went.
namespace authd::frontdoor {

enum class Verdict { allowed, unauthorized, redirected, forbidden };
inline constexpr std::array<std::string_view, 4> kVerdictNames{"allowed", "unauthorized",
                                                               "redirected", "forbidden"};

class FrontDoor {
 public:
  // rules_path unset: every target needs a signed-in user. Throws RulesError (naming the file
  // and the rule) when the file cannot be read or used.
  FrontDoor(std::optional<std::string> rules_path, std::optional<std::string> portal_url,
            std::optional<std::string> cookie_domain);

  // Reads the rules file again; a file that cannot be used keeps the rules in force and throws
  // RulesError saying why.
  void reload();

  std::shared_ptr<const Rules> rules() const {
    const std::lock_guard lock(mutex_);
    return rules_;
  }
  const std::optional<std::string>& portal_url() const { return portal_url_; }
  const RedirectPolicy* redirect_policy() const { return redirect_ ? &*redirect_ : nullptr; }

  void count(Verdict verdict) {
    verdicts_[static_cast<std::size_t>(verdict)].fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t verdicts(Verdict verdict) const {
    return verdicts_[static_cast<std::size_t>(verdict)].load(std::memory_order_relaxed);
  }

 private:
  std::shared_ptr<const Rules> load() const;

  const std::optional<std::string> rules_path_;
  const std::optional<std::string> portal_url_;
  std::optional<RedirectPolicy> redirect_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Rules> rules_;
  std::array<std::atomic<std::uint64_t>, kVerdictNames.size()> verdicts_{};
};

}  // namespace authd::frontdoor
