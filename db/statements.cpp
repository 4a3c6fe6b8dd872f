#include "db/statements.hpp"

#include <string>

namespace authd::db {

const std::vector<const sql::Statement*>& sql::all_statements() {
  static const std::vector<const Statement*> statements = {
      &kSetStatementTimeout,
      &kUseGenericPlans,
      &kPing,
      &kAdvisoryLock,
      &kTryAdvisoryLock,
      &kAdvisoryUnlock,
      &kCreateMigrationsTable,
      &kMigrationApplied,
      &kRecordMigration,
      &kInsertUser,
      &kConfirmUser,
      &kFindClash,
      &kConfirmSession,
      &kUpgradeHash,
      &kSessionUser,
      &kDeleteSession,
      &kDeleteUserSessions,
      &kPurgeSessions,
      &kUserPasswordHash,
      &kChangePassword,
      &kGrantAdmin,
      &kUserByEmail,
      &kInsertBackup,
      &kListBackups,
      &kLatestBackup,
      &kBackupById,
      &kBackupsBeyond,
      &kDeleteBackup,
      &kBeginSnapshot,
      &kCommit,
      &kCreateRestoreTable,
      &kInsertRestoredTotp,
      &kInsertRestoredCodes,
      &kFirstRestoreClash,
      &kInsertRestored,
      &kMoveUserIds,
      &kImportTimeZone,
      &kCreateImportTable,
      &kFirstImportClash,
      &kInsertImported,
      &kDumpUsers,
      &kLimitCount,
      &kLimitSettle,
      &kPurgeRateLimits,
      &kLoginCountByEmail,
      &kLoginCountByUsername,
      &kInsertSession,
      &kTotpOf,
      &kTotpPending,
      &kTotpUseStep,
      &kTotpReseal,
      &kTotpDelete,
      &kRecoveryCodesDelete,
      &kRecoveryCodesInsert,
      &kRecoveryCodesUnused,
      &kRecoveryCodeUse,
      &kMfaTokenInsert,
      &kMfaTokenUser,
      &kMfaTokenFailed,
      &kMfaTokenUsed,
      &kPurgeMfaTokens,
      &kUserById,
      &kSessionAal,
      &kDeleteOtherSessions,
      &kTokenMailForUser,
      &kTokenMailForEmail,
      &kNoticeMail,
      &kUseEmailToken,
      &kTokenKind,
      &kMarkVerified,
      &kChangeEmail,
      &kResetPassword,
      &kUserEmail,
      &kEmailTaken,
      &kPurgeEmailTokens,
      &kClaimMail,
      &kAdminSearchUsers,
      &kAdminUser,
      &kAdminUpdateUser,
      &kAdminDeleteUser,
      &kListSessions,
      &kRevokeSession,
      &kSessionsSeen,
      &kAuditInsert,
      &kAuditQuery,
      &kPurgeAudit,
      &kMailSent,
      &kMailRetry,
      &kOutboxStats,

  };
  return statements;
}

void prepare_statements(pqxx::connection& connection) {
  // libpqxx prepares a declared statement on its first use only: declaring every one is free.
  for (const sql::Statement* statement : sql::all_statements()) {
    if (statement->on_worker()) {
      connection.prepare(std::string(statement->name), std::string(statement->text));
    }
  }
}

}  // namespace authd::db
