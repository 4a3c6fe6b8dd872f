#pragma once

#include <string_view>
#include <vector>

#include <pqxx/connection>

// Every SQL statement authd runs, as named constants with $n parameters. Statements used on the
// request path are prepared on each pooled connection under their constant's name.
namespace authd::db::sql {

// Where a statement may run: on the event loops' nonblocking connections (AsyncDb, which
// prepares them on each connection and refuses the others), on the DB threads' libpqxx
// connections (and the backup's own), or on both.
enum class Path { loop, worker, both };

struct Statement {
  std::string_view name;
  std::string_view text;
  // Changes nothing: on the event loops' connections it may use the one kept free of writes,
  // so a session check never waits behind commits; and it may be tried again on a fresh
  // connection when its own broke.
  bool read_only = false;
  Path path = Path::worker;

  bool on_loop() const { return path != Path::worker; }
  bool on_worker() const { return path != Path::loop; }
};

// Every statement above and below, once: AsyncDb prepares those that may run on the loop,
// prepare_statements() those that may run on a DB thread.
const std::vector<const Statement*>& all_statements();

// RFC 3339 UTC text of a timestamptz column, so no time zone conversion happens in C++.
#define AUTHD_SQL_RFC3339(col) \
  "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

inline constexpr Statement kSetStatementTimeout{
    "set_statement_timeout", "SELECT set_config('statement_timeout', $1, false)"};
// The event loops' statements are key lookups and upserts whose best plan never depends on the
// values: a generic plan spares the planner on every execution (a fifth of a cheap login's
// PostgreSQL time for the limiter's statements).
inline constexpr Statement kUseGenericPlans{
    "use_generic_plans", "SELECT set_config('plan_cache_mode', 'force_generic_plan', false)"};
inline constexpr Statement kPing{"ping", "SELECT 1", true, Path::both};

inline constexpr Statement kAdvisoryLock{"advisory_lock", "SELECT pg_advisory_lock($1)"};
inline constexpr Statement kTryAdvisoryLock{"try_advisory_lock", "SELECT pg_try_advisory_lock($1)"};
inline constexpr Statement kAdvisoryUnlock{"advisory_unlock", "SELECT pg_advisory_unlock($1)"};
inline constexpr Statement kCreateMigrationsTable{
    "create_migrations_table",
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT "
    "NULL, applied_at timestamptz NOT NULL DEFAULT now())"};
inline constexpr Statement kMigrationApplied{"migration_applied",
                                             "SELECT 1 FROM schema_migrations WHERE version = $1"};
inline constexpr Statement kRecordMigration{
    "record_migration", "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"};

// Columns of a user as the API shows it: id, username, email, role, created_at, email_verified.
#define AUTHD_SQL_USER_COLUMNS(u)          \
  u ".id, " u ".username, " u ".email, " u \
    ".role, " AUTHD_SQL_RFC3339(u ".created_at") ", " u ".email_verified"

inline constexpr Statement kInsertUser{
    "insert_user",
    "INSERT INTO users (username, email, password_hash, role) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING RETURNING " AUTHD_SQL_USER_COLUMNS("users"),
    false, Path::both};
// A sign-up whose insert has an unknown outcome: the row it would have written, exactly.
inline constexpr Statement kConfirmUser{
    "confirm_user",
    "SELECT " AUTHD_SQL_USER_COLUMNS("users") " FROM users "
    "WHERE username = $1 AND email = $2 AND password_hash = $3",
    true, Path::loop};
inline constexpr Statement kFindClash{
    "find_clash",
    "SELECT lower(username) = lower($1) FROM users "
    "WHERE lower(username) = lower($1) OR lower(email) = lower($2) "
    "ORDER BY lower(username) = lower($1) DESC LIMIT 1",
    true, Path::both};

// A new session; a successful login also clears the account's failure window. $5 false: the
// transaction commits without waiting for its WAL flush (set_config(..., true) lasts until the
// transaction ends, so it governs the commit that follows); true: as the server is configured.
// A new session whose insert has an unknown outcome: is it there?
inline constexpr Statement kConfirmSession{
    "confirm_session",
    "SELECT " AUTHD_SQL_RFC3339("expires_at") " FROM sessions WHERE token_hash = decode($1, 'hex')",
    true, Path::loop};
inline constexpr Statement kUpgradeHash{
    "upgrade_hash", "UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3"};

// A session's user, its end as text and as seconds since the epoch (the session cache's clock).
// Then the session's assurance level, whether the user has a second factor, and the minute it
// was last seen. A disabled user has no sessions.
inline constexpr Statement kSessionUser{"session_user",
    "SELECT " AUTHD_SQL_USER_COLUMNS("u") ", " AUTHD_SQL_RFC3339("s.expires_at") ", "
    "floor(extract(epoch FROM s.expires_at))::bigint, s.aal, "
    "EXISTS (SELECT FROM totp t WHERE t.user_id = u.id AND t.confirmed), "
    "floor(extract(epoch FROM s.last_seen_at) / 60)::bigint "
    "FROM sessions s JOIN users u ON u.id = s.user_id "
    "WHERE s.token_hash = decode($1, 'hex') AND s.expires_at > now() AND NOT u.disabled", true,
    Path::both};

// Every change that ends or alters a session tells every instance in its own transaction
// (NOTIFY is delivered at commit, and not at all on rollback), so their session caches drop it:
// 's:<token hash hex>' one session, 'u:<user id>' every session of a user, '*' everything.
#define AUTHD_SQL_SESSIONS_CHANNEL "authd_sessions"
#define AUTHD_SQL_NOTIFY(payload) "pg_notify('" AUTHD_SQL_SESSIONS_CHANNEL "', " payload ")"
inline constexpr std::string_view kSessionsChannel = AUTHD_SQL_SESSIONS_CHANNEL;

inline constexpr Statement kDeleteSession{
    "delete_session",
    "DELETE FROM sessions WHERE token_hash = decode($1, 'hex') "
    "RETURNING user_id, " AUTHD_SQL_NOTIFY("'s:' || encode(token_hash, 'hex')"),
    false, Path::both};
// (Identical notifications of one transaction are delivered once.)
inline constexpr Statement kDeleteUserSessions{
    "delete_user_sessions",
    "DELETE FROM sessions WHERE user_id = $1 RETURNING " AUTHD_SQL_NOTIFY("'u:' || user_id")};
inline constexpr Statement kPurgeSessions{"purge_sessions",
                                          "DELETE FROM sessions WHERE expires_at <= now()"};

inline constexpr Statement kUserPasswordHash{"user_password_hash",
                                             "SELECT password_hash FROM users WHERE id = $1"};
// Sets the new hash and ends every other session of the user, atomically.
inline constexpr Statement kChangePassword{
    "change_password",
    "WITH ended AS (DELETE FROM sessions WHERE user_id = $1 AND token_hash <> decode($3, 'hex')), "
    "told AS (SELECT " AUTHD_SQL_NOTIFY("'u:' || $1::bigint") ") "
    "UPDATE users SET password_hash = $2 FROM told WHERE id = $1"};

inline constexpr Statement kGrantAdmin{
    "grant_admin",
    "UPDATE users SET role = 'admin' WHERE lower(email) = lower($1) "
    "RETURNING id, " AUTHD_SQL_NOTIFY("'u:' || id")};
inline constexpr Statement kUserByEmail{
    "user_by_email",
    "SELECT " AUTHD_SQL_USER_COLUMNS("users") " FROM users WHERE lower(email) = lower($1)"};

inline constexpr Statement kInsertBackup{
    "insert_backup",
    "INSERT INTO backups (file, rows, bytes, sha256, duration_ms) VALUES ($1, $2, $3, $4, $5) "
    "RETURNING id, file, rows, bytes, sha256, " AUTHD_SQL_RFC3339("created_at") ", duration_ms"};
#define AUTHD_SQL_BACKUP_COLUMNS \
  "id, file, rows, bytes, sha256, " AUTHD_SQL_RFC3339("created_at") ", duration_ms"
inline constexpr Statement kListBackups{
    "list_backups", "SELECT " AUTHD_SQL_BACKUP_COLUMNS " FROM backups ORDER BY id DESC LIMIT 1000"};
inline constexpr Statement kLatestBackup{
    "latest_backup", "SELECT " AUTHD_SQL_BACKUP_COLUMNS " FROM backups ORDER BY id DESC LIMIT 1"};
inline constexpr Statement kBackupById{
    "backup_by_id", "SELECT " AUTHD_SQL_BACKUP_COLUMNS " FROM backups WHERE id = $1"};
// Retention: the backups beyond the $1 newest, and removing one's row once its file is gone.
inline constexpr Statement kBackupsBeyond{
    "backups_beyond", "SELECT id, file FROM backups ORDER BY id DESC OFFSET $1"};
inline constexpr Statement kDeleteBackup{"delete_backup", "DELETE FROM backups WHERE id = $1"};

inline constexpr Statement kBeginSnapshot{"begin_snapshot",
                                          "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"};
inline constexpr Statement kCommit{"commit", "COMMIT"};

// Restore: rows are checked in a temporary table before they touch users.
inline constexpr Statement kCreateRestoreTable{
    "create_restore_table",
    "CREATE TEMP TABLE restore_users (id bigint, username text, email text, password_hash text, "
    "role text, created_at timestamptz, totp_secret text, recovery_codes text) ON COMMIT DROP"};
inline constexpr Statement kFirstRestoreClash{
    "first_restore_clash",
    "SELECT r.id, r.username, r.email FROM restore_users r WHERE "
    "EXISTS (SELECT 1 FROM users u WHERE u.id = r.id) OR "
    "EXISTS (SELECT 1 FROM users u WHERE lower(u.username) = lower(r.username)) OR "
    "EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(r.email)) "
    "ORDER BY r.id LIMIT 1"};
inline constexpr Statement kInsertRestored{
    "insert_restored",
    "INSERT INTO users (id, username, email, password_hash, role, created_at) "
    "OVERRIDING SYSTEM VALUE SELECT id, username, email, password_hash, role, created_at "
    "FROM restore_users ORDER BY id"};
// The restored users' second factors, confirmed as they were.
inline constexpr Statement kInsertRestoredTotp{
    "insert_restored_totp",
    "INSERT INTO totp (user_id, secret, confirmed) SELECT id, totp_secret, true "
    "FROM restore_users WHERE totp_secret <> ''"};
inline constexpr Statement kInsertRestoredCodes{
    "insert_restored_codes",
    "INSERT INTO recovery_codes (user_id, code_hash) SELECT DISTINCT id, code "
    "FROM restore_users, unnest(string_to_array(recovery_codes, ' ')) AS code "
    "WHERE recovery_codes <> '' AND code <> ''"};
inline constexpr Statement kMoveUserIds{
    "move_user_ids",
    "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT coalesce(max(id), 0) + 1 "
    "FROM users), false)"};

// Import (backup/import.cpp): rows from another system are checked in a temporary table, with
// the file's line of each, before they touch users; a time zone-less created_at is UTC.
inline constexpr Statement kImportTimeZone{"import_time_zone",
                                           "SELECT set_config('TimeZone', 'UTC', true)"};
inline constexpr Statement kCreateImportTable{
    "create_import_table",
    "CREATE TEMP TABLE import_users (line bigint, username text, email text, password_hash text, "
    "role text, created_at text, email_verified boolean) ON COMMIT DROP"};
// The first line before $1 whose username or email (case-insensitively) an earlier line or an
// existing user has: its line, the first line with its username and with its email, and whether
// an existing user has either.
inline constexpr Statement kFirstImportClash{
    "first_import_clash",
    "WITH r AS (SELECT line, lower(username) AS u, lower(email) AS e, "
    "min(line) OVER (PARTITION BY lower(username)) AS first_u, "
    "min(line) OVER (PARTITION BY lower(email)) AS first_e FROM import_users WHERE line < $1) "
    "SELECT r.line, r.first_u, r.first_e, xu.id IS NOT NULL, xe.id IS NOT NULL FROM r "
    "LEFT JOIN users xu ON lower(xu.username) = r.u LEFT JOIN users xe ON lower(xe.email) = r.e "
    "WHERE r.first_u < r.line OR r.first_e < r.line OR xu.id IS NOT NULL OR xe.id IS NOT NULL "
    "ORDER BY r.line LIMIT 1"};
inline constexpr Statement kInsertImported{
    "insert_imported",
    "INSERT INTO users (username, email, password_hash, role, created_at, email_verified) "
    "SELECT username, email, password_hash, role, "
    "coalesce(nullif(created_at, '')::timestamptz, now()), email_verified "
    "FROM import_users ORDER BY line"};

// The backup itself: PostgreSQL writes the CSV. The six columns of the original service, then the
// second factor as stored (the secret sealed, the unused recovery codes' hashes, space-separated),
// empty for a user without one.
// In whatever order the scan and joins give: a restore keeps the ids, so order does not matter,
// and no sort is paid for.
inline constexpr Statement kDumpUsers{
    "dump_users",
    "COPY (SELECT u.id, u.username, u.email, u.password_hash, u.role, u.created_at, "
    "t.secret AS totp_secret, r.codes AS recovery_codes FROM users u "
    "LEFT JOIN totp t ON t.user_id = u.id AND t.confirmed "
    "LEFT JOIN (SELECT user_id, string_agg(code_hash, ' ') AS codes FROM recovery_codes "
    "WHERE used_at IS NULL GROUP BY user_id) r ON r.user_id = u.id) "
    "TO STDOUT WITH (FORMAT csv, HEADER)"};

// The limiter's counts commit without waiting for the WAL flush: every login of an account, and
// every one from an address, updates the same row, and a row lock held across a flush would
// queue them all behind the disk. A PostgreSQL crash can forget the last moment's counts; it
// never lets a count be skipped while the server runs.
#define AUTHD_SQL_NO_FLUSH_WAIT \
  "(SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait"

// The limiter (auth/limits): $3 attempts counted in each key's fixed window, atomically, in one
// statement; $1 text[] keys (sorted, so concurrent counts lock rows in one order), $2 integer[]
// window seconds. A window that has passed starts again with these attempts. Returns each key's
// attempts (these included), window start (microseconds since the epoch) and seconds left.
inline constexpr Statement kLimitCount{
    "limit_count",
    "INSERT INTO rate_limits AS r (key, window_start, attempts, window_seconds) "
    "SELECT t.key, now(), $3::integer, t.window_seconds FROM unnest($1::text[], $2::integer[]) "
    "AS t(key, window_seconds), " AUTHD_SQL_NO_FLUSH_WAIT
    " ON CONFLICT (key) DO UPDATE SET "
    "attempts = CASE WHEN r.window_start + make_interval(secs => r.window_seconds) <= now() "
    "THEN excluded.attempts ELSE r.attempts + excluded.attempts END, "
    "window_start = CASE WHEN r.window_start + make_interval(secs => r.window_seconds) <= now() "
    "THEN now() ELSE r.window_start END, "
    "window_seconds = excluded.window_seconds "
    "RETURNING r.key, r.attempts, (extract(epoch FROM r.window_start) * 1000000)::bigint, "
    "greatest(ceil(extract(epoch FROM r.window_start + make_interval(secs => r.window_seconds) "
    "- now())), 1)::bigint",
    false, Path::loop};
// $1 text[] keys whose counts start again from zero (a proven password); $2 text[] keys and $3
// bigint[] their window starts (as kLimitCount returned them): $4 attempts given back, in that
// window only. Rows are zeroed, not deleted: a key deleted and inserted again at every login leaves
// dead index entries that every later count must step over until a vacuum.
inline constexpr Statement kLimitSettle{
    "limit_settle",
    "WITH cleared AS (UPDATE rate_limits SET attempts = 0 WHERE key = ANY($1::text[])) "
    "UPDATE rate_limits r SET attempts = greatest(r.attempts - $4::integer, 0) "
    "FROM unnest($2::text[], $3::bigint[]) AS t(key, window_start_us), " AUTHD_SQL_NO_FLUSH_WAIT
    " "
    "WHERE r.key = t.key AND r.attempts > 0 "
    "AND (extract(epoch FROM r.window_start) * 1000000)::bigint = t.window_start_us",
    false, Path::loop};
inline constexpr Statement kPurgeRateLimits{
    "purge_rate_limits",
    "DELETE FROM rate_limits WHERE window_start + make_interval(secs => window_seconds) < now()"};

// Audit events (audit/) from $n, a JSON array, inserted by a statement or a part of one.
#define AUTHD_SQL_AUDIT_INSERT(events)                                                            \
  "INSERT INTO audit_events (at, type, user_id, actor, ip, user_agent, request_id, detail) "      \
  "SELECT to_timestamp(r.at_us / 1000000.0), r.type, r.user_id, r.actor, r.ip, r.user_agent, "    \
  "r.request_id, coalesce(r.detail, '{}') FROM jsonb_to_recordset(" events "::jsonb) AS r(at_us " \
  "bigint, type text, user_id bigint, actor text, ip text, user_agent text, request_id text, "    \
  "detail jsonb)"
// A new session of assurance level $5 from user agent $6 and address $7, with its audit events
// $8 (a JSON array, '[]' for none) in the same transaction; $4 false commits it without waiting
// for the WAL flush (AUTHD_SESSION_COMMIT=async).
inline constexpr Statement kInsertSession{
    "insert_session",
    "WITH s AS (INSERT INTO sessions (token_hash, user_id, expires_at, aal, user_agent, ip) "
    "SELECT decode($1, 'hex'), $2, now() + make_interval(secs => $3), $5, $6, $7 "
    "FROM (SELECT set_config('synchronous_commit', CASE WHEN $4::boolean "
    "THEN current_setting('synchronous_commit') ELSE 'off' END, true)) AS durability "
    "RETURNING expires_at), a AS (" AUTHD_SQL_AUDIT_INSERT("$8") ") "
    "SELECT " AUTHD_SQL_RFC3339("expires_at") " FROM s",
    false, Path::both};

// A login's lookup and its count in one round trip. The account key is the user the identifier
// names ('login:user:<id>'), else the identifier as given, lower-cased ($2); the address key is $3;
// $4 and $5 the windows' seconds; $6 attempts counted. Counted as kLimitCount counts, keys in
// sorted order so concurrent counts never deadlock; every row also carries the user (NULLs when the
// identifier names nobody).
#define AUTHD_SQL_LOGIN_COUNT(condition) \
  "WITH u AS (SELECT * FROM users WHERE " condition "), "                                        \
  "k AS (SELECT key, window_seconds FROM (VALUES (coalesce('login:user:' || (SELECT id FROM u), " \
  "'login:name:' || $2), $4::integer), ($3, $5::integer)) AS v(key, window_seconds) "            \
  "ORDER BY key), "                                                                              \
  "counted AS (INSERT INTO rate_limits AS r (key, window_start, attempts, window_seconds) "      \
  "SELECT key, now(), $6::integer, window_seconds FROM k, " AUTHD_SQL_NO_FLUSH_WAIT              \
  " ON CONFLICT (key) DO UPDATE SET "                                                            \
  "attempts = CASE WHEN r.window_start + make_interval(secs => r.window_seconds) <= now() "      \
  "THEN excluded.attempts ELSE r.attempts + excluded.attempts END, "                                                             \
  "window_start = CASE WHEN r.window_start + make_interval(secs => r.window_seconds) <= now() "  \
  "THEN now() ELSE r.window_start END, "                                                         \
  "window_seconds = excluded.window_seconds "                                                    \
  "RETURNING r.key, r.attempts, (extract(epoch FROM r.window_start) * 1000000)::bigint AS us, "  \
  "greatest(ceil(extract(epoch FROM r.window_start + make_interval(secs => r.window_seconds) "   \
  "- now())), 1)::bigint AS retry) "                                                             \
  "SELECT c.key, c.attempts, c.us, c.retry, " AUTHD_SQL_USER_COLUMNS("u") ", u.password_hash, "  \
  "EXISTS (SELECT FROM totp t WHERE t.user_id = u.id AND t.confirmed), u.disabled "              \
  "FROM counted c LEFT JOIN u ON true"
inline constexpr Statement kLoginCountByEmail{
    "login_count_by_email", AUTHD_SQL_LOGIN_COUNT("lower(email) = lower($1)"), false, Path::loop};
inline constexpr Statement kLoginCountByUsername{
    "login_count_by_username", AUTHD_SQL_LOGIN_COUNT("lower(username) = lower($1)"), false,
    Path::loop};

// The second factor (auth/second_factor.cpp), on the DB threads.
inline constexpr Statement kTotpOf{
    "totp_of", "SELECT secret, confirmed, last_step FROM totp WHERE user_id = $1 FOR UPDATE"};
// A pending secret, replacing a pending one; nothing when one is confirmed.
inline constexpr Statement kTotpPending{
    "totp_pending",
    "INSERT INTO totp (user_id, secret) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE "
    "SET secret = excluded.secret, last_step = 0, created_at = now() WHERE NOT totp.confirmed "
    "RETURNING user_id"};
inline constexpr Statement kTotpUseStep{
    "totp_use_step",
    "UPDATE totp SET last_step = $2, confirmed = true WHERE user_id = $1 AND last_step < $2 "
    "RETURNING user_id"};
inline constexpr Statement kTotpReseal{
    "totp_reseal", "UPDATE totp SET secret = $2 WHERE user_id = $1 AND secret = $3"};
inline constexpr Statement kTotpDelete{"totp_delete", "DELETE FROM totp WHERE user_id = $1"};
inline constexpr Statement kRecoveryCodesDelete{"recovery_codes_delete",
                                                "DELETE FROM recovery_codes WHERE user_id = $1"};
inline constexpr Statement kRecoveryCodesInsert{
    "recovery_codes_insert",
    "INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, unnest($2::text[])"};
inline constexpr Statement kRecoveryCodesUnused{
    "recovery_codes_unused",
    "SELECT code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL FOR UPDATE"};
inline constexpr Statement kRecoveryCodeUse{
    "recovery_code_use",
    "UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 "
    "AND used_at IS NULL"};
inline constexpr Statement kMfaTokenInsert{
    "mfa_token_insert",
    "INSERT INTO mfa_tokens (token_hash, user_id, expires_at) "
    "VALUES (decode($1, 'hex'), $2, now() + make_interval(secs => $3)) "
    "RETURNING " AUTHD_SQL_RFC3339("expires_at")};
// A token still good ($2: the wrong codes it may have had), locked for the attempt.
inline constexpr Statement kMfaTokenUser{
    "mfa_token_user",
    "SELECT user_id FROM mfa_tokens WHERE token_hash = decode($1, 'hex') AND expires_at > now() "
    "AND NOT used AND failures < $2 FOR UPDATE"};
inline constexpr Statement kMfaTokenFailed{
    "mfa_token_failed",
    "UPDATE mfa_tokens SET failures = failures + 1 WHERE token_hash = decode($1, 'hex')"};
inline constexpr Statement kMfaTokenUsed{
    "mfa_token_used", "UPDATE mfa_tokens SET used = true WHERE token_hash = decode($1, 'hex')"};
inline constexpr Statement kPurgeMfaTokens{
    "purge_mfa_tokens", "DELETE FROM mfa_tokens WHERE expires_at <= now() OR used"};
inline constexpr Statement kUserById{
    "user_by_id", "SELECT " AUTHD_SQL_USER_COLUMNS("users") " FROM users WHERE id = $1"};
// A session's level ($2); its cached copies go.
inline constexpr Statement kSessionAal{
    "session_aal",
    "UPDATE sessions SET aal = $2 WHERE token_hash = decode($1, 'hex') "
    "RETURNING " AUTHD_SQL_NOTIFY("'s:' || $1")};
inline constexpr Statement kDeleteOtherSessions{
    "delete_other_sessions",
    "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> decode($2, 'hex') "
    "RETURNING " AUTHD_SQL_NOTIFY("'u:' || user_id")};

// Mail (auth/email.cpp, mail/outbox.cpp). A token and its mail are written by one statement; $4,
// the new address of a change, is '' for the other kinds.
#define AUTHD_SQL_TOKEN_AND_MAIL(user_query)                                                    \
  "WITH u AS (" user_query                                                                      \
  "), "                                                                                         \
  "t AS (INSERT INTO email_tokens (token_hash, user_id, kind, new_email, expires_at) "          \
  "SELECT decode($2, 'hex'), u.id, $3, nullif($4, ''), now() + make_interval(secs => $5) FROM " \
  "u), "                                                                                        \
  "o AS (INSERT INTO outbox (message_id, recipient, kind, message) "                            \
  "SELECT $6, coalesce(nullif($4, ''), u.email), $3, "                                          \
  "replace($7, '@RECIPIENT@', coalesce(nullif($4, ''), u.email)) FROM u) "                      \
  "SELECT count(*) FROM u"
// $1 user id.
inline constexpr Statement kTokenMailForUser{
    "token_mail_for_user",
    AUTHD_SQL_TOKEN_AND_MAIL("SELECT id, email FROM users WHERE id = $1::bigint"), false,
    Path::both};
// $1 email: nothing is written for an address nobody has, by the same statement.
inline constexpr Statement kTokenMailForEmail{
    "token_mail_for_email",
    AUTHD_SQL_TOKEN_AND_MAIL("SELECT id, email FROM users WHERE lower(email) = lower($1)")};
// A plain notice (no token): $1 user id, $2 message id, $3 kind, $4 recipient, $5 message.
inline constexpr Statement kNoticeMail{
    "notice_mail",
    "INSERT INTO outbox (message_id, recipient, kind, message) SELECT $2, $4, $3, $5 "
    "FROM users WHERE id = $1"};
// Takes a token of kind $2 once: its user and new email.
inline constexpr Statement kUseEmailToken{
    "use_email_token",
    "UPDATE email_tokens SET used = true WHERE token_hash = decode($1, 'hex') AND kind = $2 "
    "AND NOT used AND expires_at > now() RETURNING user_id, new_email"};
inline constexpr Statement kTokenKind{
    "token_kind",
    "SELECT kind FROM email_tokens WHERE token_hash = decode($1, 'hex') AND NOT used "
    "AND expires_at > now()"};
inline constexpr Statement kMarkVerified{"mark_verified",
                                         "UPDATE users SET email_verified = true WHERE id = $1 "
                                         "RETURNING " AUTHD_SQL_NOTIFY("'u:' || id")};
inline constexpr Statement kChangeEmail{
    "change_email",
    "UPDATE users SET email = $2, email_verified = true WHERE id = $1 "
    "RETURNING " AUTHD_SQL_NOTIFY("'u:' || id")};
// A reset: the new hash, and every session ends.
inline constexpr Statement kResetPassword{
    "reset_password",
    "WITH ended AS (DELETE FROM sessions WHERE user_id = $1), "
    "told AS (SELECT " AUTHD_SQL_NOTIFY("'u:' || $1::bigint") ") "
    "UPDATE users SET password_hash = $2 FROM told WHERE id = $1"};
inline constexpr Statement kUserEmail{"user_email",
                                      "SELECT email, email_verified FROM users WHERE id = $1"};
inline constexpr Statement kEmailTaken{
    "email_taken", "SELECT 1 FROM users WHERE lower(email) = lower($1) AND id <> $2"};
inline constexpr Statement kPurgeEmailTokens{
    "purge_email_tokens", "DELETE FROM email_tokens WHERE expires_at <= now() OR used"};
// The sender: up to $1 waiting mails, locked (other instances skip them) until this one is done.
inline constexpr Statement kClaimMail{
    "claim_mail",
    "SELECT id, message_id, recipient, message, attempts FROM outbox "
    "WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now() "
    "ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED"};
// Delivered: the text (and its link) goes, the metadata stays.
inline constexpr Statement kMailSent{
    "mail_sent",
    "UPDATE outbox SET sent_at = now(), message = NULL, attempts = attempts + 1, last_error = NULL "
    "WHERE id = $1"};
// Not delivered: again after $2 seconds, or failed for good once a day has passed since queueing.
inline constexpr Statement kMailRetry{
    "mail_retry",
    "UPDATE outbox SET attempts = attempts + 1, last_error = $3, "
    "next_attempt_at = now() + make_interval(secs => $2), "
    "failed_at = CASE WHEN created_at + interval '24 hours' < now() + make_interval(secs => $2) "
    "THEN now() END, message = CASE WHEN created_at + interval '24 hours' < now() + "
    "make_interval(secs => $2) THEN NULL ELSE message END WHERE id = $1 "
    "RETURNING failed_at IS NOT NULL"};
// Mails waiting (the partial index outbox_waiting answers it).
inline constexpr Statement kOutboxStats{
    "outbox_stats", "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"};

// Administration (admin/users.cpp). A user as an admin sees it: the API's columns, whether it is
// disabled and whether it has a second factor.
#define AUTHD_SQL_ADMIN_USER_COLUMNS(u)                  \
  AUTHD_SQL_USER_COLUMNS(u) ", " u ".disabled, EXISTS (" \
                            "SELECT FROM totp t WHERE t.user_id = " u ".id AND t.confirmed)"
// The search: $1 a LIKE pattern ('' for everyone) matched against the lower-cased username and
// email, keyset-paged by id. Run unprepared, so each search is planned for its own pattern: a
// rare prefix through the prefix indexes, a common one (or none) along the primary key.
inline constexpr Statement kAdminSearchUsers{
    "admin_search_users",
    "SELECT " AUTHD_SQL_ADMIN_USER_COLUMNS("u") " FROM users u "
    "WHERE ($1 = '' OR lower(u.username) LIKE lower($1) OR lower(u.email) LIKE lower($1)) "
    "AND u.id > $2 "
    "ORDER BY u.id LIMIT $3"};
inline constexpr Statement kAdminUser{
    "admin_user", "SELECT " AUTHD_SQL_ADMIN_USER_COLUMNS("u") " FROM users u WHERE u.id = $1"};
// $2 the new role or NULL, $3 the new disabled or NULL; every instance drops the user's cached
// sessions (their role, or they are about to end).
inline constexpr Statement kAdminUpdateUser{
    "admin_update_user",
    "UPDATE users SET role = coalesce($2, role), disabled = coalesce($3::boolean, disabled) "
    "WHERE id = $1 RETURNING id, " AUTHD_SQL_NOTIFY("'u:' || id")};
// Sessions, recovery codes and tokens go with the user (ON DELETE CASCADE); audit events stay.
inline constexpr Statement kAdminDeleteUser{
    "admin_delete_user",
    "DELETE FROM users WHERE id = $1 RETURNING id, " AUTHD_SQL_NOTIFY("'u:' || id")};
// A user's own sessions (auth/sessions.cpp): $2 the current session's token hash.
inline constexpr Statement kListSessions{
    "list_sessions",
    "SELECT public_id::text, " AUTHD_SQL_RFC3339("created_at") ", " AUTHD_SQL_RFC3339(
        "expires_at") ", " AUTHD_SQL_RFC3339("last_seen_at") ", user_agent, ip, aal, "
                                                             "token_hash = decode($2, 'hex') "
                                                             "FROM sessions WHERE user_id = $1 "
                                                             "AND expires_at > now() "
                                                             "ORDER BY created_at DESC, "
                                                             "public_id LIMIT 1000"};
// $2 a public id (checked to be a UUID before it is sent).
inline constexpr Statement kRevokeSession{
    "revoke_session",
    "DELETE FROM sessions WHERE user_id = $1 AND public_id = $2::uuid "
    "RETURNING " AUTHD_SQL_NOTIFY("'s:' || encode(token_hash, 'hex')")};
// When sessions were last seen (auth/last_seen.cpp): $1 a JSON array of {"h": token hash hex,
// "at": seconds since the epoch}; a later time never goes back.
inline constexpr Statement kSessionsSeen{
    "sessions_seen",
    "UPDATE sessions s SET last_seen_at = to_timestamp(r.at) "
    "FROM jsonb_to_recordset($1::jsonb) AS r(h text, at bigint) "
    "WHERE s.token_hash = decode(r.h, 'hex') AND s.last_seen_at < to_timestamp(r.at)"};
// The audit trail (audit/): $1 a JSON array of events, written by one statement whether it holds
// one event (inside the transaction of the change it records) or a batch.
inline constexpr Statement kAuditInsert{"audit_insert",
                                        AUTHD_SQL_AUDIT_INSERT("$1") " ORDER BY r.at_us"};
// Newest first, keyset-paged by id; $1 user id, $2 type, $3 before this id: each NULL for any.
// Run unprepared, planned for the filters given.
inline constexpr Statement kAuditQuery{
    "audit_query",
    "SELECT id, " AUTHD_SQL_RFC3339(
        "at") ", type, user_id, actor, ip, user_agent, request_id, detail::text "
              "FROM audit_events WHERE ($1::bigint IS NULL OR user_id = $1) AND ($2::text IS "
              "NULL OR type = $2) AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"};
// Retention: at most $2 events older than $1 seconds, per statement.
inline constexpr Statement kPurgeAudit{
    "purge_audit",
    "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < now() - "
    "make_interval(secs => $1) ORDER BY at LIMIT $2)"};

}  // namespace authd::db::sql

namespace authd::db {

// Registers the request-path statements on a connection (libpqxx prepares them on first use).
void prepare_statements(pqxx::connection& connection);

}  // namespace authd::db
