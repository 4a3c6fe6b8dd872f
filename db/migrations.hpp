#pragma once

#include <string_view>
#include <vector>

#include <pqxx/connection>

namespace authd::db {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// Every schema change, oldest first. Applied migrations are never edited; add a new one.
const std::vector<Migration>& migrations();

// Applies the pending migrations in order, each in its own transaction, under an advisory lock
// so that instances starting together take turns. Returns how many were applied.
int migrate(pqxx::connection& connection);

}  // namespace authd::db
