#include "server/problem.hpp"

#include <algorithm>
#include <exception>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <pqxx/except>

#include "auth/hash_pool.hpp"
#include "backup/backups.hpp"
#include "db/errors.hpp"
#include "server/wire.hpp"

namespace authd::server {
namespace {

// The status's reason phrase, so title and status line agree.
std::string_view title_of(int status) {
  const std::string_view phrase = reason_phrase(status);
  return phrase.empty() ? std::string_view("Error") : phrase;
}

}  // namespace

Response problem(int status, std::string_view code, std::string_view detail,
                 std::int64_t retry_after) {
  boost::json::object body;
  body["status"] = status;
  body["code"] = code;
  body["title"] = title_of(status);
  body["detail"] = detail;
  Response response;
  response.status = status;
  response.content_type = "application/problem+json";
  response.body = boost::json::serialize(body);
  if (retry_after > 0) response.headers.emplace_back("Retry-After", std::to_string(retry_after));
  return response;
}

Response problem_from_error(const auth::Error& error) {
  using auth::ErrorKind;
  switch (error.kind) {
    case ErrorKind::invalid:
      return problem(400, error.code, error.detail);
    case ErrorKind::unauthenticated:
      return problem(401, error.code, error.detail);
    case ErrorKind::forbidden:
      return problem(403, error.code, error.detail);
    case ErrorKind::not_found:
      return problem(404, error.code, error.detail);
    case ErrorKind::conflict:
      return problem(409, error.code, error.detail);
    case ErrorKind::limited:
      return problem(429, error.code, error.detail, std::max<std::int64_t>(error.retry_after, 1));
    case ErrorKind::not_configured:
      return problem(503, error.code, error.detail, 3600);
  }
  return problem(500, "internal_error", "Something went wrong on our side.");
}

namespace {

// A statement PostgreSQL refused, from either database path.
Response problem_from_sqlstate(std::string_view sqlstate) {
  // 57014: statement_timeout cancelled the query; 57P01..57P03: the server is going away.
  if (sqlstate.starts_with("57")) {
    return problem(503, "database_unavailable", "The database did not answer in time.", 2);
  }
  return problem(500, "internal_error", "Something went wrong on our side.");
}

}  // namespace

Response problem_from_exception(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const auth::ClientGone&) {
    // Nobody is listening; logged and counted as nginx does, and the connection closes.
    Response response = problem(499, "client_closed_request", "The client left.");
    response.close = true;
    return response;
  } catch (const auth::Overloaded&) {
    return problem(503, "overloaded", "The server is busy hashing passwords; try again shortly.",
                   1);
  } catch (const db::PoolExhausted&) {
    return problem(503, "overloaded", "Every database connection is busy; try again shortly.", 1);
  } catch (const backup::BackupStorageFailed&) {
    return problem(503, "backup_storage_failed",
                   "The backup could not be written to its directory (full or not writable); "
                   "nothing was kept.",
                   30);
  } catch (const db::DatabaseUnavailable&) {
    return problem(503, "database_unavailable", "The database cannot be reached right now.", 2);
  } catch (const pqxx::broken_connection&) {
    return problem(503, "database_unavailable", "The database cannot be reached right now.", 2);
  } catch (const pqxx::sql_error& e) {
    return problem_from_sqlstate(e.sqlstate());
  } catch (const db::StatementError& e) {
    return problem_from_sqlstate(e.sqlstate());
  } catch (...) {
    return problem(500, "internal_error", "Something went wrong on our side.");
  }
}

}  // namespace authd::server
