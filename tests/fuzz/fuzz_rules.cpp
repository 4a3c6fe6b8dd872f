// The front door's rules file and the original request it is asked about: the JSON of
// AUTHD_ACCESS_RULES, then (after the first NUL) an original URL and a forwarded host and URI.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "frontdoor/rules.hpp"
#include "frontdoor/target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::size_t cut = all.find('\0');
  const std::string_view rules_text = all.substr(0, cut);
  const std::string_view rest = cut == std::string_view::npos ? "" : all.substr(cut + 1);
  using namespace authd::frontdoor;
  Rules rules;
  try {
    rules = parse_rules(rules_text);
  } catch (const RulesError&) {
  }
  const std::size_t half = rest.size() / 2;
  for (const auto& original :
       {from_original_url("GET", rest),
        from_forwarded("POST", "https", rest.substr(0, half), rest.substr(half))}) {
    if (original) (void)rules.decide(original->target);
  }
  (void)normalize_path(rest);
  return 0;
}
