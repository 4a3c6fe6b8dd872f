#include "frontdoor/front_door.hpp"

#include <fstream>
#include <sstream>

namespace authd::frontdoor {

namespace {
constexpr std::size_t kMaxRulesFile = 1 << 20;
}

FrontDoor::FrontDoor(std::optional<std::string> rules_path, std::optional<std::string> portal_url,
                     std::optional<std::string> cookie_domain)
    : rules_path_(std::move(rules_path)), portal_url_(std::move(portal_url)) {
  if (portal_url_) redirect_ = RedirectPolicy{*portal_url_, std::move(cookie_domain)};
  rules_ = load();
}

std::shared_ptr<const Rules> FrontDoor::load() const {
  if (!rules_path_) return std::make_shared<const Rules>();
  std::ifstream file(*rules_path_, std::ios::binary);
  if (!file) throw RulesError(*rules_path_ + ": cannot be read");
  std::ostringstream text;
  text << file.rdbuf();
  if (text.str().size() > kMaxRulesFile) throw RulesError(*rules_path_ + ": larger than 1 MiB");
  try {
    return std::make_shared<const Rules>(parse_rules(text.str()));
  } catch (const RulesError& e) {
    throw RulesError(*rules_path_ + ": " + e.what());
  }
}

void FrontDoor::reload() {
  auto fresh = load();
  const std::lock_guard lock(mutex_);
  rules_ = std::move(fresh);
}

}  // namespace authd::frontdoor
