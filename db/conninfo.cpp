#include "db/conninfo.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <memory>

namespace authd::db {

const ConnSettings& default_conn_settings() {
  static const ConnSettings defaults = {
      {"keepalives", "1"},           {"keepalives_idle", "5"},
      {"keepalives_interval", "2"},  {"keepalives_count", "3"},
      {"tcp_user_timeout", "10000"}, {"target_session_attrs", "read-write"},
  };
  return defaults;
}

std::optional<ConnSettings> conn_settings(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (parsed == nullptr) return std::nullopt;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> owned(parsed, PQconninfoFree);
  ConnSettings settings;
  // Only the keywords the string sets have a value: the rest come from the environment.
  for (const PQconninfoOption* option = parsed; option->keyword != nullptr; ++option) {
    if (option->val != nullptr) settings.emplace_back(option->keyword, option->val);
  }
  for (const auto& setting : default_conn_settings()) {
    const bool set = std::any_of(settings.begin(), settings.end(), [&setting](const auto& entry) {
      return entry.first == setting.first;
    });
    if (!set) settings.push_back(setting);
  }
  return settings;
}

std::string conninfo_with_defaults(const std::string& conninfo) {
  const auto settings = conn_settings(conninfo);
  if (!settings) return conninfo;
  std::string out;
  for (const auto& [key, value] : *settings) {
    if (!out.empty()) out += ' ';
    out += key;
    out += "='";
    for (char c : value) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    out += '\'';
  }
  return out;
}

pg_conn* connect_with_defaults(const std::string& conninfo) {
  const auto settings = conn_settings(conninfo);
  if (!settings) return PQconnectdb(conninfo.c_str());
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [key, value] : *settings) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  return PQconnectdbParams(keys.data(), values.data(), 0);
}

}  // namespace authd::db
