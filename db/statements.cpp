#include "db/statements.hpp"

#include <string>

namespace authd::db {

void prepare_statements(pqxx::connection& connection) {
  const sql::Statement* const statements[] = {
      &sql::kPing,           &sql::kInsertUser,         &sql::kFindClash,
      &sql::kLoginByEmail,   &sql::kLoginByUsername,    &sql::kRecordLoginFailure,
      &sql::kCreateSession,  &sql::kUpgradeHash,        &sql::kSessionUser,
      &sql::kDeleteSession,  &sql::kDeleteUserSessions, &sql::kUserPasswordHash,
      &sql::kChangePassword, &sql::kPurgeSessions,      &sql::kPurgeLoginFailures,
      &sql::kInsertBackup,   &sql::kListBackups,        &sql::kLatestBackup,
      &sql::kBackupById,     &sql::kGrantAdmin,         &sql::kUserByEmail,
  };
  for (const sql::Statement* statement : statements) {
    connection.prepare(std::string(statement->name), std::string(statement->text));
  }
}

}  // namespace authd::db
